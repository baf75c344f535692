"""Condition number κ = λ_max/λ_min of the NTK against depth (seeds 001 and 002).

Infinite width by default (one pass over the depths per activation); --width W uses
the empirical NTK of a sampled network instead, with W neurons in each of its L − 1 hidden
layers (ntk parameterisation, seeded). σ_w defaults to the edge of chaos for abrelu-type
activations (relu √2, abs and linear 1; σ_w² = 1/(a² + b²)) and to 1 otherwise; with σ_b = 0 κ
of relu, abs and linear does not depend on σ_w. Data: --data FILE (.npy/.csv), --dataset
digits (scikit-learn's handwritten digits) or clustered, or synthetic points on the sphere of
radius √n0 (default 100 points, n0 = 100). gram_condition is κ of the input Gram matrix XXᵀ: a
linear network keeps it at every depth (seed 002), relu lowers it, and abs (Δφ = 1) approaches
the deep limit faster than relu (Δφ = ½; seed 001). A κ whose λ_min lies below the round-off
floor N·ε·λ_max is not a result: it is null in JSON and "below floor" in the table.
"""

from __future__ import annotations

from ntktui.errors import UserError
from ntktui.params import INT, Param
from ntktui.studies import Study, shared
from ntktui.studies.shared import (DEFAULT_N0, DEFAULT_SAMPLES, condition_lists, condition_plot,
                                   condition_table, infinite_conditions, network)


def check(values: dict) -> None:
    shared.check_data_options(values)
    if values["width"] is None and values["dtype"] != "float64":
        raise UserError(f"the infinite-width kernel is computed in float64; --dtype "
                        f"{values['dtype']} applies with --width only")
    if values["width"] is not None and values.get("tolerance") is not None:
        raise UserError("--tolerance applies to the infinite-width kernel; drop --width")


def analyse(progress, *, act, depth, width, data, dataset, samples, n0, scale, sigma_w, sigma_b,
            seed, dtype, order, tolerance=None):
    acts = list(act)
    depths = sorted(set(depth))

    from ntktui import data as datasets

    pts = datasets.points(data, samples, n0, seed, DEFAULT_SAMPLES, DEFAULT_N0, dataset=dataset)
    x = pts.values

    from engine import backend
    from engine import infinite as inf

    dt = backend.resolve_dtype(dtype)
    nets = [network(a, scale, sigma_w, sigma_b) for a in acts]  # all refusals before any work
    gram = inf.condition(x @ x.T)
    timings = {"compile_s": 0.0, "compute_s": 0.0}
    results = []

    def report(rows, complete=True):
        payload = {
            "gram_condition": gram.kappa,
            "gram_below_floor": not gram.resolved,
            "data": pts.description, "samples": x.shape[0], "n0": x.shape[1],
            "width": width, "infinite": width is None, "scale": scale,
            "dtype": dt.name if width else "float64", "device": backend.default_device_name(),
            "results": rows, "timings": timings if complete else dict(timings),
        }
        return condition_report(payload, complete)

    progress.begin("κ by depth", len(nets) * (len(depths) if width else 1))
    for a, sw in nets:
        head = {"activation": a.name, "sigma_w": sw, "sigma_b": sigma_b}
        if width is None:
            row = infinite_conditions(x, a, depths, sw, sigma_b, scale, order, timings, tolerance,
                                      between=shared.cancel_between_tiles(progress))
        else:
            row = empirical_conditions(
                x, a, depths, width, sw, sigma_b, scale, seed, dt, timings,
                # the rows of this network's depths finished so far, next to the finished networks
                lambda part: progress.step(partial=report([*results, {**head, **part}], False)),
                shared.cancel_between_tiles(progress))
        results.append({**head, **row})
        if width is None:
            progress.step(partial=report(list(results), False))
    return report(results)


def empirical_conditions(x, act, depths, width, sigma_w, sigma_b, scale, seed, dtype, timings,
                         finished, between=None) -> dict:
    """κ of the empirical NTK of one sampled network per depth (hidden widths W, L − 1 times);
    `finished(row)` is called after each depth with the row of the depths done so far;
    `between(done, total)` after each tile of a kernel."""
    from engine.mlp import MLPSpec
    from engine.ntk import empirical_kernel

    rows = []
    for L in depths:
        spec = MLPSpec((x.shape[1], *[width] * (L - 1), 1), act.name, scale, "ntk", sigma_w,
                       sigma_b)
        r = empirical_kernel(spec, x, seed=seed, dtype=dtype, progress=between)
        s = r.spectrum
        rows.append((s.condition, s.lambda_min, s.lambda_max))
        timings["compile_s"] += r.compile_s
        timings["compute_s"] += r.compute_s
        finished(empirical_row(depths[:len(rows)], rows))
    return empirical_row(depths, rows)


def empirical_row(depths, rows) -> dict:
    return {**condition_lists(depths, rows), "method": "empirical", "quadrature_error": None}


def condition_report(p: dict, complete: bool = True):
    from ntktui.report import Report

    return Report(p, condition_blocks(p), complete=complete)


def condition_blocks(p: dict) -> list:
    from ntktui.output import fmt
    from ntktui.report import Note

    kind = "infinite width" if p["infinite"] else f"width {p['width']}"
    blocks = []
    plot = condition_plot(p["results"], f"NTK condition number against depth ({kind})",
                          p["gram_condition"])
    if plot is not None:
        blocks.append(plot)
    blocks.append(condition_table(p["results"], f"κ of the NTK ({kind})"))
    gram = "below floor (XXᵀ is singular to round-off)" if p["gram_condition"] is None \
        else fmt(p["gram_condition"])
    blocks.append(Note(f"Gram matrix XXᵀ: κ = {gram} (grey line)"))
    sw = ", ".join(f"{r['activation']} σ_w={r['sigma_w']:.4g}" for r in p["results"])
    quad = [f"{r['activation']} " + ("unresolved" if r["quadrature_error"] is None
                                      else f"≤ {r['quadrature_error']:.1e}")
            + (" (tolerance not met)" if r.get("tolerance_met") is False else "")
            for r in p["results"] if "quadrature_resolved" in r]
    blocks.append(Note(f"[dim]{p['data']}; {sw}, σ_b={p['results'][0]['sigma_b']:g}; "
                       f"{p['dtype']} on {p['device']}; compile {p['timings']['compile_s']:.2f} s, "
                       f"compute {p['timings']['compute_s']:.2f} s"
                       + (f"; quadrature error (of λ_max): {', '.join(quad)}" if quad else "")
                       + "[/dim]"))
    return blocks


def memory(values: dict) -> None:
    from ntktui.data import points_shape

    N, n0 = points_shape(values["data"], values["samples"], values["n0"], DEFAULT_SAMPLES,
                         DEFAULT_N0, values["dataset"])
    shared.data_memory(N, n0)
    for a in values["act"]:
        if values["width"] is None:
            shared.infinite_memory(N, a, values["order"], values.get("tolerance"))
            continue
        for L in values["depth"]:
            shared.empirical_memory((n0, *[values["width"]] * (L - 1), 1), a, values["scale"],
                                    "ntk", values["sigma_w"] or 1.0, values["sigma_b"], N,
                                    values["dtype"])


STUDY = Study(
    name="condition", order=110, help=__doc__, analyse=analyse, memory=memory, check=check,
    params=(
        shared.ACTS.with_(default=("relu", "linear", "abs")),
        shared.DEPTHS,
        Param("width", INT, None, help="Empirical NTK of a network with this hidden width "
              "(default: infinite width).", flags=("--width", "-m"), lo=1,
              default_text="infinite"),
        shared.DATA,
        shared.DATASET,
        shared.DATA_SAMPLES,
        shared.N0.with_(default_text="100"),
        shared.ACT_SCALE,
        shared.SIGMA_W_EOC,
        shared.SIGMA_B,
        shared.SEED,
        shared.DTYPE,
        shared.ORDER,
        shared.TOLERANCE,
    ),
)
