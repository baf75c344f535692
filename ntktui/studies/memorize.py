"""Memorisation of random labels against width (seed 000; docs/maths.md): networks n0 → w → 1 trained by
full-batch gradient descent on N random signs y = ±1; the final loss ½‖f(X) − y‖² (a sum over the
points) and the fraction of points fitted, |f(x_i) − y_i| < ½ (which implies the right sign).

The step size defaults to η = 1/λ_max of the network's empirical NTK at initialisation: the
linearised dynamics r ← (I − ηK)r are stable up to 2/λ_max, and 1/λ_max keeps a margin for the
kernel's drift during training. The table also shows λ_min of that kernel (or "below floor" when
it is under the round-off floor N·ε·λ_max and so not resolved): after T steps the linearised
residual has shrunk by at least (1 − λ_min/λ_max)^T.
"""

from __future__ import annotations

import time

from ntktui.params import FLOAT, INT, TEXT, Param
from ntktui.params import widths as parse_widths
from ntktui.studies import Study, shared

CURVE_POINTS = 101  # loss-curve samples kept per network in the JSON


def analyse(progress, *, act, widths, samples, n0, steps, lr, scale, param, sigma_w, sigma_b, seed):
    start = time.perf_counter()
    from ntktui import data as datasets

    ws = hidden_widths(widths, samples)
    acts = list(act)

    from engine import backend, train
    from engine.mlp import MLPSpec

    import_s = time.perf_counter() - start
    pts = datasets.synthetic(samples, n0, seed)
    labels = train.random_labels(samples, seed)
    jobs = []
    for a in acts:  # every network is specified (and so validated) before anything is computed
        specs = [MLPSpec((n0, w, 1), a, scale, param, sigma_w, sigma_b) for w in ws]
        train.check_training(specs[0], steps, lr, train.DEFAULT_CHUNK)
        jobs.append(specs)

    setting = {
        "samples": samples,
        "n0": n0,
        "data": pts.description,
        "network": "n0 → w → 1",
        "steps": steps,
        "lr": lr,
        "lr_rule": "given" if lr is not None else "1/λ_max(K₀)",
        "loss": "½‖f(X) − y‖² (sum over points)",
        "fit_tolerance": train.FIT_TOLERANCE,
        **shared.network_setting(param, scale, sigma_w, sigma_b, seed),
    }
    device = backend.default_device_name()
    runs: list[list] = []

    def report(complete: bool):
        return memorisation_report(setting, runs, device, import_s, complete)

    progress.begin("memorize (steps)", len(jobs) * len(ws) * steps)
    progress.step(0, partial=report(False))  # a Ctrl-C before the first network: no rows
    for specs in jobs:
        found: list = []
        runs.append(found)
        for spec in specs:
            done = [0]

            def tick(n, done=done):
                progress.step(n - done[0])
                done[0] = n

            found.append(train.memorise(spec, pts.values, labels, steps=steps, lr=lr,
                                        seed=seed, callback=tick,
                                        kernel_progress=shared.cancel_between_tiles(progress)))
            progress.step(0, partial=report(False))
    return report(True)


def memorisation_report(setting: dict, runs: list, device: str, import_s: float, complete: bool):
    """The Report of the networks trained so far (the last activation's row may be partly done)."""
    from ntktui.report import Report

    runs = [r for r in runs if r]
    payload = {
        **setting,
        "results": [result_json(found) for found in runs],
        "device": device,
        "timings": {
            "import_s": import_s,
            "ntk_s": sum(r.ntk_s for found in runs for r in found),
            "compile_s": sum(r.compile_s for found in runs for r in found),
            "train_s": sum(r.train_s for found in runs for r in found),
        },
    }
    return Report(payload, memorisation_blocks(payload) if runs else [], complete=complete)


def hidden_widths(text: str, samples: int) -> list[int]:
    """Widths as for --hidden (8,64 or multiples of N: 8N) or a range 1:16."""
    if ":" in text:
        return list(WIDTHS.parse(text))
    return parse_widths(text, samples, "--widths")


def check_widths(text: str, p: Param) -> None:
    hidden_widths(text, 1)


def _curve(losses):
    import numpy as np

    t = np.unique(np.linspace(0, len(losses) - 1, CURVE_POINTS).round().astype(int))
    return {"steps": t.tolist(), "loss": [float(losses[i]) for i in t]}


def result_json(found) -> dict:
    return {
        "activation": found[0].spec.act.name,
        "widths": [r.spec.widths[1] for r in found],
        "final_loss": [r.final_loss for r in found],
        "fraction_fitted": [r.fraction_fitted for r in found],
        "lambda_min": [r.spectrum.lambda_min for r in found],
        "lambda_max": [r.spectrum.lambda_max for r in found],
        "floor": [r.spectrum.floor for r in found],
        "lr": [r.lr for r in found],
        "steps_run": [r.steps for r in found],
        "diverged": [r.diverged for r in found],
        "loss_curves": [_curve(r.losses) for r in found],
    }


def memorisation_plot(payload):
    from ntktui.render import Plot, Series

    series = [Series(r["activation"], r["widths"], r["final_loss"], scatter=len(r["widths"]) == 1)
              for r in payload["results"]]
    return Plot(title=f"Final loss after {payload['steps']} GD steps, N={payload['samples']} "
                      "random labels",
                xlabel="width w", ylabel="½‖f(X) − y‖²", series=series, log_x=True, log_y=True)


def memorisation_blocks(payload) -> list:
    from ntktui.report import Note, Table

    rows = []
    for r in payload["results"]:
        for k, w in enumerate(r["widths"]):
            lmin = r["lambda_min"][k]
            rows.append((r["activation"], w,
                         "diverged" if r["diverged"][k] else r["final_loss"][k],
                         r["fraction_fitted"][k],
                         "below floor" if lmin is None else lmin,
                         r["lambda_max"][k], r["lr"][k] * r["lambda_max"][k]))
    return [
        memorisation_plot(payload),
        Table(f"Memorisation of {payload['samples']} random labels (n0 → w → 1, {payload['param']}, "
              f"{payload['steps']} steps)",
              ["act", "w", "final loss", "fitted", "λ_min(K₀)", "λ_max(K₀)", "η·λ_max"], rows),
        Note(f"[dim]final loss: ½‖f(X) − y‖² summed over the points; fitted: fraction with "
             f"|f(x_i) − y_i| < {payload['fit_tolerance']:g}; K₀: the empirical NTK at "
             "initialisation.[/dim]"),
    ]


WIDTHS = Param("widths", TEXT, "1,2,4,8,16,32,64,128,256,512", help="Hidden widths w of the "
               "network n0 → w → 1: 8,64,512; a range 1:16; or multiples of N: 1N,8N.",
               check=check_widths)

def memory(values: dict) -> None:
    """The initial NTK of every network (its λ_max sets the step), before the first."""
    N, n0 = values["samples"], values["n0"]
    shared.data_memory(N, n0)
    for a in values["act"]:
        for w in hidden_widths(values["widths"], N):
            shared.empirical_memory((n0, w, 1), a, values["scale"], values["param"],
                                    values["sigma_w"], values["sigma_b"], N)


STUDY = Study(
    name="memorize", order=100, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACTS.with_(default=("cos", "relu")),
        WIDTHS,
        Param("samples", INT, 100, help="Training points N (random labels).",
              flags=("--samples", "-n"), lo=1),
        Param("n0", INT, 50, help="Input dimension n₀ of the synthetic points.", lo=1),
        Param("steps", INT, 2000, help="Gradient-descent steps per network.", lo=1),
        Param("lr", FLOAT, None, help="Step size η (default 1/λ_max of the initial NTK; 2/λ_max "
              "is the linearised stability edge).", lo=0, lo_open=True,
              default_text="1/λ_max(K₀)"),
        shared.ACT_SCALE,
        shared.PARAM,
        shared.SIGMA_W,
        shared.SIGMA_B,
        shared.SEED,
    ),
)
