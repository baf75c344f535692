"""Condition number κ = λ_max/λ_min of the NTK against depth (seeds 001 and 002).

Infinite width by default (SPEC §6: one pass over the depths per activation); --width W uses
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

import math
import sys
import time
from typing import Annotated, Optional

import typer

from ntktui import options
from ntktui.errors import UserError

NAME = "condition"
DEFAULT_ACTS = ("relu", "linear", "abs")
DEFAULT_SAMPLES, DEFAULT_N0 = 100, 100

Width = Annotated[Optional[int], typer.Option("--width", "-m", help="Empirical NTK of a network "
                                              "with this hidden width (default: infinite width).")]
SigmaWOpt = Annotated[Optional[float], typer.Option(
    "--sigma-w", help="Weight scale σ_w (default: the edge of chaos for relu/abs/linear/abrelu, "
    "else 1).")]
Samples = Annotated[Optional[int], typer.Option("--samples", "-n", help="Samples N (default 100).")]
Order = Annotated[int, typer.Option("--order", help="Gauss–Hermite order for activations without "
                                    "a closed form.")]


def run(
    act: options.Acts = None,
    depth: options.Depths = "1:30",
    width: Width = None,
    data: options.Data = None,
    dataset: options.Dataset = None,
    samples: Samples = None,
    n0: options.N0 = None,
    scale: options.ActScale = 1.0,
    sigma_w: SigmaWOpt = None,
    sigma_b: options.SigmaB = 0.0,
    seed: options.Seed = 0,
    dtype: options.Dtype = "float64",
    order: Order = 64,
    json: options.Json = False,
    plot_width: options.PlotWidth = None,
):
    from ntktui.output import deliver

    deliver(sys.modules[__name__], locals(), json, plot_width)


def analyse(progress, *, act, depth, width, data, dataset, samples, n0, scale, sigma_w, sigma_b,
            seed, dtype, order):
    acts = list(act or DEFAULT_ACTS)
    depths = sorted(set(options.parse_int_list(depth, "--depth")))
    if width is not None and width < 1:
        raise UserError(f"--width must be positive, got {width}")
    if width is None and dtype != "float64":
        raise UserError(f"the infinite-width kernel is computed in float64; --dtype {dtype} "
                        "applies with --width only")
    if order < 2:
        raise UserError(f"--order must be at least 2, got {order}")
    check_scales(sigma_w, sigma_b, scale)

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
            row = infinite_conditions(x, a, depths, sw, sigma_b, scale, order, timings)
        else:
            row = empirical_conditions(
                x, a, depths, width, sw, sigma_b, scale, seed, dt, timings,
                # the rows of this network's depths finished so far, next to the finished networks
                lambda part: progress.step(partial=report([*results, {**head, **part}], False)))
        results.append({**head, **row})
        if width is None:
            progress.step(partial=report(list(results), False))
    return report(results)


def check_scales(sigma_w, sigma_b, scale) -> None:
    if sigma_w is not None and not (math.isfinite(sigma_w) and sigma_w > 0):
        raise UserError(f"--sigma-w must be a positive number, got {sigma_w}")
    if not (math.isfinite(sigma_b) and sigma_b >= 0):
        raise UserError(f"--sigma-b must be ≥ 0, got {sigma_b}")
    options.check_finite(scale, "--scale")


def eoc_sigma_w(act, scale: float = 1.0) -> float | None:
    """σ_w at the edge of chaos (σ_b = 0) for relu and abrelu(a, b) (abs, linear), else None."""
    from engine import infinite as inf
    from engine.errors import EngineError

    try:
        a, b = inf.abrelu_params(act, scale)
        return math.sqrt(inf.eoc_sigma_w2(a, b))
    except EngineError:
        return None


def network(name: str, scale: float, sigma_w: float | None, sigma_b: float):
    """(activation, σ_w) with σ_w defaulting to the edge of chaos; refuses activations without
    an NTK (heaviside) with the registry's one-line message."""
    from engine.activations import get

    a = get(name)
    a.derivative(0.0)  # the registry's "no NTK" refusal, before anything is computed
    if sigma_w is None:
        sigma_w = eoc_sigma_w(a, scale) or 1.0
    return a, sigma_w


def infinite_conditions(x, act, depths, sigma_w, sigma_b, scale, order, timings) -> dict:
    """κ of Θ^L at the listed depths, in one pass over the layers."""
    from engine import infinite as inf

    opts = dict(sigma_w2=sigma_w**2, sigma_b2=sigma_b**2, scale=scale, order=order)
    start = time.perf_counter()
    compile_s = inf.compile_layers(x, act, max(depths), **opts)
    wanted, conds, err = set(depths), [], None
    for layer in inf.layers(x, act, max(depths), **opts):
        if layer.error is not None:
            err = layer.error
        if layer.depth in wanted:
            conds.append(inf.condition(layer.ntk))
    timings["compile_s"] += compile_s
    timings["compute_s"] += time.perf_counter() - start - compile_s
    return {
        **condition_lists(depths, [(c.kappa, c.lam_min, c.lam_max) for c in conds]),
        "method": "closed form" if inf.has_closed_form(act) else "quadrature",
        # the deepest layer's accumulated NTK error estimate, relative to its λ_max
        "quadrature_error": None if err is None else err.ntk_abs / conds[-1].lam_max,
    }


def empirical_conditions(x, act, depths, width, sigma_w, sigma_b, scale, seed, dtype, timings,
                         finished) -> dict:
    """κ of the empirical NTK of one sampled network per depth (hidden widths W, L − 1 times);
    `finished(row)` is called after each depth with the row of the depths done so far."""
    from engine.mlp import MLPSpec
    from engine.ntk import empirical_kernel

    rows = []
    for L in depths:
        spec = MLPSpec((x.shape[1], *[width] * (L - 1), 1), act.name, scale, "ntk", sigma_w,
                       sigma_b)
        r = empirical_kernel(spec, x, seed=seed, dtype=dtype)
        s = r.spectrum
        rows.append((s.condition, s.lambda_min, s.lambda_max))
        timings["compile_s"] += r.compile_s
        timings["compute_s"] += r.compute_s
        finished(empirical_row(depths[:len(rows)], rows))
    return empirical_row(depths, rows)


def empirical_row(depths, rows) -> dict:
    return {**condition_lists(depths, rows), "method": "empirical", "quadrature_error": None}


def condition_lists(depths, rows) -> dict:
    """(κ, λ_min, λ_max) per depth as JSON lists; κ and λ_min are None below the floor."""
    return {"depth": list(depths), "condition": [k for k, _, _ in rows],
            "below_floor": [k is None for k, _, _ in rows],
            "lambda_min": [m for _, m, _ in rows], "lambda_max": [M for _, _, M in rows]}


def condition_plot(results, title: str, gram: float | None = None, limit: float | None = None):
    from ntktui.render import Plot, Series

    series = []
    for r in results:
        kept = [(d, k) for d, k in zip(r["depth"], r["condition"]) if k is not None]
        if kept:
            series.append(Series(r.get("label", r["activation"]), [d for d, _ in kept],
                                 [k for _, k in kept], scatter=len(kept) == 1))
    hlines = [(gram, "Gram matrix XXᵀ")] if gram else []
    if limit:
        hlines.append((limit, "deep limit"))
    return Plot(title, "depth L", "κ", series, log_y=True, hlines=hlines) if series else None


def condition_table(results, title: str):
    """Depth by network; a network still being computed (a partial report) has its missing
    depths as None ("—")."""
    from ntktui.report import Table

    depths = max((r["depth"] for r in results), key=len) if results else []
    rows = []
    for i, d in enumerate(depths):
        rows.append((d, *(None if i >= len(r["condition"]) else
                          "below floor" if r["condition"][i] is None else r["condition"][i]
                          for r in results)))
    return Table(title, ["depth L", *(r.get("label", r["activation"]) for r in results)], rows)


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
    quad = [f"{r['activation']} {r['quadrature_error']:.1e}" for r in p["results"]
            if r["quadrature_error"] is not None]
    blocks.append(Note(f"[dim]{p['data']}; {sw}, σ_b={p['results'][0]['sigma_b']:g}; "
                       f"{p['dtype']} on {p['device']}; compile {p['timings']['compile_s']:.2f} s, "
                       f"compute {p['timings']['compute_s']:.2f} s"
                       + (f"; quadrature error (of λ_max): {', '.join(quad)}" if quad else "")
                       + "[/dim]"))
    return blocks
