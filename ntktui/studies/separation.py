"""Angle between the gradient features of close input pairs against depth (seed 002).

Pairs of points on the sphere of radius √n0 are drawn at the given input angles (--angles, in
degrees); for each pair x, z the angle between ∇f(x) and ∇f(z) of an infinitely wide network is
arccos(Θ^L(x,z)/√(Θ^L(x,x)·Θ^L(z,z))). Without a nonlinearity (linear) it stays at the input
angle at every depth; with relu similar inputs separate: every pair's angle grows with depth
toward one common angle, whatever its input angle: at the edge of chaos with σ_b = 0 the NTK
correlation of any two distinct inputs tends to ¼ for every abrelu with Δφ > 0 (relu, abs), an
angle of arccos ¼ ≈ 75.5° (the grey line), approached slowly (like 1/L). σ_w defaults to the edge of chaos (relu √2,
linear 1); with σ_b = 0 the angles of relu, abs and linear do not depend on σ_w.
"""

from __future__ import annotations

import math
import time

from ntktui.params import FLOATS, INT, Param
from ntktui.studies import Study, shared
from ntktui.studies.shared import network


def deep_limit_deg(act, scale: float, sigma_b: float) -> float | None:
    """arccos ¼ in degrees for abrelu-type activations with Δφ > 0 and σ_b = 0 (their angles do
    not depend on σ_w), else None (no limit known here)."""
    from engine import infinite as inf
    from engine.errors import EngineError

    if sigma_b != 0:
        return None
    try:
        a, b = inf.abrelu_params(act, scale)
    except EngineError:
        return None
    return math.degrees(math.acos(0.25)) if inf.delta_phi(a, b) > 0 else None


def analyse(progress, *, act, depth, angles, n0, scale, sigma_w, sigma_b, seed, order):
    acts = list(act)
    depths = sorted(set(depth))
    degrees = list(angles)

    import numpy as np

    from engine import backend
    from engine import infinite as inf
    from ntktui.report import Report

    nets = [network(a, scale, sigma_w, sigma_b) for a in acts]
    from engine.data import close_pairs

    x, pairs = close_pairs(len(degrees), n0, [math.radians(d) for d in degrees], seed)
    results, timings = [], {"compute_s": 0.0}

    def report(complete=True):
        payload = {"input_angles_deg": degrees, "n0": n0, "seed": seed, "scale": scale,
                   "device": backend.default_device_name(), "results": list(results),
                   "timings": dict(timings)}
        return Report(payload, separation_blocks(payload), complete=complete)

    wanted = set(depths)
    progress.begin("angles by depth", len(nets))
    for a, sw in nets:
        start = time.perf_counter()
        per_depth = [np.degrees(inf.pair_angles(layer.ntk, pairs))
                     for layer in inf.layers(x, a, max(depths), sigma_w2=sw**2,
                                             sigma_b2=sigma_b**2, scale=scale, order=order)
                     if layer.depth in wanted]
        ang = np.stack(per_depth)  # depth × pair
        results.append({"activation": a.name, "sigma_w": sw, "sigma_b": sigma_b, "depth": depths,
                        "pairs": [{"input_angle_deg": d, "angle_deg": ang[:, k]}
                                  for k, d in enumerate(degrees)],
                        "spread_deg": np.ptp(ang, axis=1),
                        # largest over smallest angle: 1 when all pairs share one angle
                        "ratio": ang.max(axis=1) / ang.min(axis=1),
                        "deep_limit_deg": deep_limit_deg(a, scale, sigma_b)})
        timings["compute_s"] += time.perf_counter() - start
        progress.step(partial=report(complete=False))
    return report()


def separation_blocks(p: dict) -> list:
    from ntktui.render import Plot, Series
    from ntktui.report import Note, Table

    series = [Series(f"{r['activation']} {q['input_angle_deg']:g}°", r["depth"], q["angle_deg"])
              for r in p["results"] for q in r["pairs"]]
    limits = sorted({r["deep_limit_deg"] for r in p["results"] if r["deep_limit_deg"]})
    plot = Plot("Angle between the gradient features of close pairs (infinite width)",
                "depth L", "angle (degrees)", series,
                hlines=[(v, "deep limit") for v in limits])
    cols = [f"{r['activation']} {q['input_angle_deg']:g}°" for r in p["results"] for q in r["pairs"]]
    depths = p["results"][0]["depth"]
    rows = [(d, *(q["angle_deg"][i] for r in p["results"] for q in r["pairs"]))
            for i, d in enumerate(depths)]
    ratio = ", ".join(f"{r['activation']} {r['ratio'][0]:.3g} → {r['ratio'][-1]:.3g}"
                      for r in p["results"])
    return [
        plot,
        Table("Gradient-feature angle (degrees) by depth; input angle in the column name",
              ["depth L", *cols], rows),
        Note(f"largest / smallest pair angle from depth {depths[0]} to {depths[-1]}: {ratio}"
             + (f"; deep limit {', '.join(f'{v:.1f}°' for v in limits)} (grey line)"
                if limits else "")),
        Note(f"[dim]{len(p['input_angles_deg'])} pairs on the sphere of radius √{p['n0']} "
             f"(seed {p['seed']}); "
             + ", ".join(f"{r['activation']} σ_w={r['sigma_w']:.4g}" for r in p["results"])
             + f", σ_b={p['results'][0]['sigma_b']:g}[/dim]"),
    ]


def memory(values: dict) -> None:
    N = 2 * len(values["angles"])  # two points per pair
    shared.data_memory(N, values["n0"])
    for a in values["act"]:
        shared.infinite_memory(N, a, values["order"])


STUDY = Study(
    name="separation", order=130, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACTS.with_(default=("relu", "linear")),
        shared.DEPTHS,
        Param("angles", FLOATS, (1.0, 5.0, 10.0, 30.0), help="Input angles of the pairs in "
              "degrees, e.g. 1,5,10,30 (each in (0, 180]).", lo=0, lo_open=True, hi=180,
              unit="degrees"),
        Param("n0", INT, 100, help="Input dimension (at least 2 for a pair at an angle).", lo=2),
        shared.ACT_SCALE,
        shared.SIGMA_W_EOC,
        shared.SIGMA_B,
        shared.SEED,
        shared.ORDER,
    ),
)
