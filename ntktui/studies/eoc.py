"""abrelu(a, b) = a·t + b·|t| at the edge of chaos (seed 001): Δφ, σ_w², correlation iterates, κ.

With σ_b = 0 and σ_w² = 1/(a² + b²) the variance of every layer equals the input's, and two
inputs' correlation follows the map ρ ↦ (1 − Δφ)ρ + Δφ·(2/π)(√(1−ρ²) + ρ·arcsin ρ) with
Δφ = b²/(a² + b²); the derivative map χ(ρ) = (1 − Δφ) + Δφ·(2/π)·arcsin ρ scales the NTK's
recursion. From a starting correlation ρ¹ (--rho) the command iterates both maps over depth and
reports the NNGP correlation ρ^L, χ^L and the NTK's correlation Θ^L(x,x')/Θ^L(x,x). Next to
abrelu(a, b) it shows relu (Δφ = ½), abs (Δφ = 1) and linear (Δφ = 0), each at its own edge of
chaos, with the condition number κ of the infinite-width NTK matrix against depth on a data set
(as in `ntk condition`: default 100 points on the sphere in n0 = 100 dimensions). The larger
Δφ, the faster κ approaches its deep limit: for N distinct inputs and Δφ > 0 the NTK's
correlations all tend to ¼, so the matrix tends to a multiple of ¾I + ¼·11ᵀ, whose κ is
(N + 3)/3 (limit_condition; the lower grey line).
"""

from __future__ import annotations

import time

from ntktui.errors import UserError
from ntktui.params import FLOAT, Param
from ntktui.studies import Study, shared
from ntktui.studies.shared import (DEFAULT_N0, DEFAULT_SAMPLES, condition_plot, condition_table,
                                   infinite_conditions)

REFERENCES = ("relu", "abs", "linear")


def check(values: dict) -> None:
    shared.check_data_options(values)
    if values["a"] ** 2 + values["b"] ** 2 == 0:
        raise UserError("abrelu(a,b) needs a² + b² > 0; --a 0 --b 0 is the zero function")


def analyse(progress, *, a, b, rho, depth, data, dataset, samples, n0, seed):
    import math

    depths = sorted(set(depth))

    from ntktui import data as datasets

    pts = datasets.points(data, samples, n0, seed, DEFAULT_SAMPLES, DEFAULT_N0, dataset=dataset)
    x = pts.values

    from engine import backend
    from engine import infinite as inf
    from engine.activations import get
    from ntktui.report import Report

    gram = inf.condition(x @ x.T)
    main = main_label(a, b)
    timings = {"compile_s": 0.0, "compute_s": 0.0}
    results = []

    def report(complete=True):
        first = results[0]
        payload = {
            "a": a, "b": b, "delta_phi": first["delta_phi"], "sigma_w2": first["sigma_w2"],
            "sigma_b": 0.0, "rho0": rho, "depth": depths,
            "iterates": {"rho": first["rho"], "chi": first["chi"], "ntk_rho": first["ntk_rho"]},
            "gram_condition": gram.kappa, "gram_below_floor": not gram.resolved,
            "limit_condition": (x.shape[0] + 3) / 3,
            "data": pts.description, "samples": x.shape[0], "n0": x.shape[1],
            "device": backend.default_device_name(), "results": list(results),
            "timings": timings if complete else dict(timings),
        }
        return Report(payload, eoc_blocks(payload), complete=complete)

    progress.begin("κ by depth", 1 + len(REFERENCES))
    for name in (main, *REFERENCES):
        act = get(name)
        pa, pb = inf.abrelu_params(act)
        sw2, delta = inf.eoc_sigma_w2(pa, pb), inf.delta_phi(pa, pb)
        start = time.perf_counter()
        it = inf.eoc_iterates(rho, delta, max(depths))
        timings["compute_s"] += time.perf_counter() - start
        at = [d - 1 for d in depths]
        row = infinite_conditions(x, act, depths, math.sqrt(sw2), 0.0, 1.0, 64, timings,
                                  between=shared.cancel_between_tiles(progress))
        results.append({
            "activation": act.name,
            "a": pa, "b": pb, "delta_phi": delta, "sigma_w2": sw2,
            "depth": depths, "condition": row["condition"], "below_floor": row["below_floor"],
            "lambda_min": row["lambda_min"], "lambda_max": row["lambda_max"],
            "rho": it.rho[at], "chi": it.chi[at], "ntk_rho": it.ntk_rho[at],
        })
        progress.step(partial=report(complete=False))
    return report()


def main_label(a: float, b: float) -> str:
    return f"abrelu({a!r},{b!r})"


def eoc_blocks(p: dict) -> list:
    """The iterates and κ against depth; the first result is abrelu(a, b), labelled as given."""
    from ntktui.output import fmt
    from ntktui.render import Plot, Series
    from ntktui.report import Note, Table

    main, depths, rho = main_label(p["a"], p["b"]), p["depth"], p["rho0"]
    results = [{**r, "label": main if i == 0 else r["activation"]}
               for i, r in enumerate(p["results"])]
    first = results[0]
    corr = Plot(f"Correlation iterates at the edge of chaos from ρ¹ = {rho:g}", "depth L",
                "ρ", [Series(f"{r['label']} ρ^L (Δφ={r['delta_phi']:.3g})", depths, r["rho"])
                      for r in results]
                + [Series(f"{main} NTK", depths, first["ntk_rho"])])
    blocks = [corr]
    plot = condition_plot(results, "NTK condition number against depth (infinite width, EOC)",
                          p["gram_condition"], p["limit_condition"])
    if plot is not None:
        blocks.append(plot)
    blocks.append(Table(f"{main}: Δφ = {fmt(first['delta_phi'])}, σ_w² = "
                        f"{fmt(first['sigma_w2'])}, σ_b = 0; iterates from ρ¹ = {rho:g}",
                        ["depth L", "ρ^L (NNGP)", "χ^L", "NTK correlation"],
                        list(zip(depths, first["rho"], first["chi"], first["ntk_rho"]))))
    blocks.append(condition_table(results, "κ of the NTK at the edge of chaos"))
    consts = ", ".join(f"{r['label']} Δφ={r['delta_phi']:.3g} σ_w²={r['sigma_w2']:.4g}"
                       for r in results)
    g = "below floor" if p["gram_condition"] is None else fmt(p["gram_condition"])
    blocks.append(Note(f"deep limit (N + 3)/3 = {fmt(p['limit_condition'])}, Gram matrix κ = {g} "
                       "(grey lines)"))
    blocks.append(Note(f"[dim]{consts}; {p['data']}[/dim]"))
    return blocks


def memory(values: dict) -> None:
    from ntktui.data import points_shape

    N, n0 = points_shape(values["data"], values["samples"], values["n0"], DEFAULT_SAMPLES,
                         DEFAULT_N0, values["dataset"])
    shared.data_memory(N, n0)
    for name in (main_label(values["a"], values["b"]), *REFERENCES):
        shared.infinite_memory(N, name, 64)


STUDY = Study(
    name="eoc", order=120, help=__doc__, analyse=analyse, memory=memory, check=check,
    params=(
        Param("a", FLOAT, 0.25, help="Linear part a of φ(t) = a·t + b·|t|."),
        Param("b", FLOAT, 0.75, help="Absolute-value part b of φ(t) = a·t + b·|t|."),
        Param("rho", FLOAT, 0.5, help="Starting correlation ρ¹ of two inputs, in [−1, 1].", lo=-1,
              hi=1),
        shared.DEPTHS,
        shared.DATA,
        shared.DATASET,
        shared.DATA_SAMPLES.with_(help="Samples N for κ (default 100)."),
        shared.N0.with_(default_text="100"),
        shared.SEED,
    ),
)
