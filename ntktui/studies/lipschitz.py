"""Empirical Lipschitz constant of n0 → 64 → 64 → n₃ → 1 networks as the width n₃ grows
(seed 000 Fig. 3–4): the gradient-norm estimate max_i ‖∇ₓf(x_i)‖ over the data (the local
Lipschitz constant, the honest estimate) and the pairwise estimate max |f(x_i) − f(x_j)|/‖x_i − x_j‖
(a lower bound of the true constant).

The default parameterisation is "standard" (W ~ N(0, σ_w²/n_{l−1})): it keeps the output and its
gradient O(1) as n₃ grows, so what the sweep shows is the network's own behaviour. Under "unscaled"
(W ~ N(0, σ_w²), no 1/n) the last layer alone multiplies f and ∇ₓf by about √n₃, a growth that
comes from the parameterisation, not the activation. "ntk" computes the same function at
initialisation as "standard" and gives the same numbers.
"""

from __future__ import annotations

import time

from ntktui.params import INT, INTS, Param
from ntktui.studies import Study, shared

DEFAULT_N0 = (200, 400)
DEFAULT_SAMPLES = 1000
FRONT = (64, 64)  # n₁, n₂ (seed 000)


def check(values: dict) -> None:
    shared.check_data_options(values)


def analyse(progress, *, act, widths, n0, samples, data, scale, param, sigma_w, sigma_b, seed):
    start = time.perf_counter()
    from ntktui import data as datasets

    n3s = list(widths)

    from engine import backend, lipschitz
    from engine.mlp import MLPSpec

    import_s = time.perf_counter() - start
    if data is not None:
        sets = [datasets.load_points(data)]
    else:
        sets = [datasets.synthetic(samples or DEFAULT_SAMPLES, d, seed) for d in (n0 or DEFAULT_N0)]
    # Every network is specified (and so validated) before anything is computed.
    jobs = []
    for a in act:
        for pts in sets:
            d = pts.values.shape[1]
            specs = [MLPSpec((d, *FRONT, w, 1), a, scale, param, sigma_w, sigma_b) for w in n3s]
            lipschitz.check_network(specs[0])
            jobs.append((specs, pts))

    rows = []  # one entry per (activation, n0): (spec of the first width, estimates)
    setting = {
        "samples": int(sets[0].values.shape[0]),
        "data": [pts.description for pts in sets],
        "network": f"n0 → {FRONT[0]} → {FRONT[1]} → n3 → 1",
        **shared.network_setting(param, scale, sigma_w, sigma_b, seed),
    }
    device = backend.default_device_name()

    def report(complete: bool):
        return lipschitz_report(setting, rows, device, import_s, complete)

    progress.begin("lipschitz", len(jobs) * len(n3s))
    progress.step(0, partial=report(False))  # a Ctrl-C before the first network: no rows
    for specs, pts in jobs:
        found = []
        rows.append((specs[0], found))
        for spec in specs:
            found.append(lipschitz.network_estimate(spec, pts.values, seed=seed))
            progress.step(partial=report(False))
    return report(True)


def lipschitz_report(setting: dict, rows: list, device: str, import_s: float, complete: bool):
    """The Report of the (activation, n0) rows estimated so far (a row may be partly done)."""
    from ntktui.report import Report

    rows = [r for r in rows if r[1]]
    payload = {
        **setting,
        "results": [result_json(spec, ests) for spec, ests in rows],
        "device": device,
        "timings": {
            "import_s": import_s,
            "compile_s": sum(e.compile_s for _, ests in rows for e in ests),
            "compute_s": sum(e.compute_s for _, ests in rows for e in ests),
        },
    }
    return Report(payload, lipschitz_blocks(payload) if rows else [], complete=complete)


def result_json(spec, ests) -> dict:
    return {
        "activation": spec.act.name,
        "n0": spec.widths[0],
        "widths": [e.spec.widths[3] for e in ests],
        "gradient_norm": [e.gradient_norm for e in ests],
        "pairwise": [e.pairwise for e in ests],
        "gradient_norm_summary": [e.summary() for e in ests],
    }


def lipschitz_plots(payload):
    from ntktui.render import Plot, Series

    plots = []
    for name in dict.fromkeys(r["activation"] for r in payload["results"]):
        series = [Series(f"n0={r['n0']}", r["widths"], r["gradient_norm"], scatter=len(r["widths"]) == 1)
                  for r in payload["results"] if r["activation"] == name]
        top = max((v for s in series for v in s.y if v is not None), default=0.0)
        plots.append(Plot(  # from zero, so that a bounded curve looks bounded
            title=f"Lipschitz estimate max‖∇ₓf‖ — {name}, N={payload['samples']}",
            xlabel="n₃", ylabel="max ‖∇ₓf(x_i)‖", series=series, log_x=True,
            ylim=(0.0, 1.1 * top) if top > 0 else None))
    return plots


def lipschitz_blocks(payload) -> list:
    from ntktui.report import Note, Table

    lines = []
    for r in payload["results"]:
        for k, w in enumerate(r["widths"]):
            s = r["gradient_norm_summary"][k]
            lines.append((r["activation"], r["n0"], w, r["gradient_norm"][k], s["median"],
                          r["pairwise"][k]))
    return [
        *lipschitz_plots(payload),
        Table(f"Empirical Lipschitz constant ({payload['network']}, {payload['param']}, "
              f"N={payload['samples']})",
              ["act", "n0", "n₃", "max ‖∇ₓf‖", "median ‖∇ₓf‖", "pairwise"], lines),
        Note("[dim]max ‖∇ₓf‖: the largest local Lipschitz constant on the data (the estimate); "
             "pairwise: max |f(x_i) − f(x_j)|/‖x_i − x_j‖, a lower bound of the true "
             "constant.[/dim]"),
    ]


def memory(values: dict) -> None:
    from engine.lipschitz import check_memory
    from engine.mlp import MLPSpec
    from ntktui.data import number_shape

    if values["data"] is not None:
        shape = number_shape(values["data"])
        sets = [(shape[0], shape[1] if len(shape) > 1 else 1)]
    else:
        sets = [(values["samples"] or DEFAULT_SAMPLES, d) for d in values["n0"] or DEFAULT_N0]
    for N, d in sets:
        shared.data_memory(N, d)
        for a in values["act"]:
            for w in values["widths"]:
                check_memory(MLPSpec((d, *FRONT, w, 1), a, values["scale"], values["param"],
                                     values["sigma_w"], values["sigma_b"]), N)


STUDY = Study(
    name="lipschitz", order=90, help=__doc__, analyse=analyse, memory=memory, check=check,
    params=(
        shared.ACTS.with_(default=("cos", "relu")),
        Param("widths", INTS, (64, 128, 256, 512, 1024, 2048), help="Widths n₃ of the swept layer: "
              "64,128 or a range 64:2048:64.", lo=1),
        Param("n0", INTS, None, help="Input dimension n₀ of synthetic data (repeatable; default "
              "200 and 400).", lo=1, repeat=True, default_text="200, 400"),
        Param("samples", INT, None, help=f"Synthetic data points (default {DEFAULT_SAMPLES}).",
              flags=("--samples", "-n"), lo=1, default_text=str(DEFAULT_SAMPLES)),
        shared.DATA,
        shared.ACT_SCALE,
        shared.PARAM.with_(default="standard"),
        shared.SIGMA_W,
        shared.SIGMA_B,
        shared.SEED,
    ),
)
