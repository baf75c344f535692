"""Gradient-descent iterations needed to keep k components active, per activation (seed 003
Appendix D): T = log(1 − τ)/log(1 − σ_k²/σ₁²) with η = 1/σ₁², k = 1..N."""

from __future__ import annotations

from ntktui.params import FLOAT, Param
from ntktui.studies import Study, shared

TABLE_K = (4, 16, 64)


def analyse(progress, *, act, width, samples, scale, tau):
    samples = width if samples is None else samples

    from engine.activations import get
    from engine.shallow import check_sizes, spectrum
    from engine.shrinkage import TAU_DEFAULT
    from ntktui.report import Report

    tau = TAU_DEFAULT if tau is None else tau
    activations = [get(a) for a in act]
    check_sizes(samples, width)
    results = []
    progress.begin("spectra", len(activations))
    for a in activations:
        results.append(iterations(spectrum(a, samples, width, scale), tau))
        progress.step()
    payload = {"samples": samples, "width": width, "scale": scale, "tau": tau,
               "results": [result_json(r) for r in results]}
    return Report(payload, iterations_blocks(results, samples, width, scale, tau))


def iterations(s, tau: float) -> dict:
    """Whole GD steps (η = 1/σ₁²) after which the mask at σ_k is ≥ τ; None below the floor."""
    import numpy as np

    from engine.shrinkage import iterations_for_k

    k = np.arange(1, s.singular_values.size + 1)
    real = np.asarray(iterations_for_k(s.singular_values, k, tau=tau))
    # At least one step: T = 0 (σ_k = σ₁, where one step already gives mask 1) still takes a step.
    steps = [max(1, int(np.ceil(t))) if ok else None for t, ok in zip(real, s.resolved)]
    return {"spectrum": s, "k": k, "iterations": steps}


def result_json(r: dict) -> dict:
    from ntktui.output import resolved_list

    s = r["spectrum"]
    return {"activation": s.activation, "k": r["k"].tolist(), "iterations": r["iterations"],
            "normalized": resolved_list(s.normalized, s.resolved)}


def table_ks(n: int) -> list[int]:
    return sorted({min(k, n) for k in (*TABLE_K, max(1, n // 2))})


def iterations_plot(results, samples, width, tau):
    import numpy as np

    from ntktui.render import Plot, Series

    series = []
    for r in results:
        keep = np.array([t is not None for t in r["iterations"]])
        steps = np.array([t for t in r["iterations"] if t is not None], dtype=np.float64)
        series.append(Series(r["spectrum"].activation, r["k"][keep], steps))
    return Plot(title=f"GD iterations to keep k components (η = 1/σ₁², τ = {tau:.3f}, "
                f"N={samples}, M={width})", xlabel="k", ylabel="iterations T",
                series=series, log_y=True)


def iterations_blocks(results, samples, width, scale, tau) -> list:
    from ntktui.report import Table

    ks = table_ks(len(results[0]["k"]))
    rows = []
    for r in results:
        steps = r["iterations"]
        # As floats so that fmt writes 1.1e+08 rather than a long run of digit groups.
        cells = ["below floor" if steps[k - 1] is None else float(steps[k - 1]) for k in ks]
        rows.append((r["spectrum"].activation, *cells, sum(t is not None for t in steps)))
    return [
        iterations_plot(results, samples, width, tau),
        Table(f"GD iterations (scale {scale:g})", ["activation", *(f"T(k={k})" for k in ks),
                                                   "k resolved"], rows),
    ]


def memory(values: dict) -> None:
    shared.shallow_memory(values["samples"] or values["width"], values["width"])


STUDY = Study(
    name="iterations", order=40, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACTS.with_(default=("heaviside", "tanh", "relu", "gelu", "silu", "relu2")),
        shared.WIDTH,
        shared.SAMPLES,
        shared.SCALE,
        Param("tau", FLOAT, None, help="Mask value that counts a component as active, in (0, 1) "
              "(default 1 − 1/e).", lo=0, hi=1, lo_open=True, hi_open=True,
              default_text="1 − 1/e"),
    ),
)
