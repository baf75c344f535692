"""Timing of the infinite-width kernels (engine/infinite.py; docs/maths.md, infinite-width kernels).

1. The analytic relu NTK, float64: N = 2000 points on the sphere, depth 20 (target: under 2 s on a
   2-core CPU). The first call compiles; compile = first call − the median of the next ones.
   The condition number of the result (numpy LAPACK eigvalsh) is timed apart.
2. The quadrature path: tanh, N = 500, order 64 (error check at 128), per layer, with and without
   the error estimate, and the estimate it reports.

The persistent compilation cache is off, so compile times are those of a first run. Compute
times are the fastest of a few runs (the cores may be shared); the machine line gives the load.

    .venv/bin/python benchmarks/infinite_kernel.py            # the defaults above
    .venv/bin/python benchmarks/infinite_kernel.py 1000 10    # other N and depth for part 1
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ["NTK_NO_COMPILE_CACHE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import activations, infinite as inf  # noqa: E402
from engine.data import sphere_points  # noqa: E402

from benchkit import machine, save  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def analytic(n: int, depth: int, repeats: int = 5) -> dict:
    x = sphere_points(n, 64, seed=0)
    relu = activations.get("relu")

    def run():
        k = inf.kernels(x, relu, depth, sigma_w2=2.0)
        k.ntk.block_until_ready()
        return k

    k, first = timed(run)
    warm = [timed(run)[1] for _ in range(repeats)]
    compute = min(warm)  # the least disturbed run: other processes share these cores
    cond, eig_s = timed(lambda: inf.condition(k.ntk))
    return {"what": "relu NTK (closed form)", "n": n, "depth": depth, "first_call_s": first,
            "compile_s": max(first - compute, 0.0), "compute_s": compute,
            "compute_median_s": statistics.median(warm),
            "per_layer_ms": 1e3 * compute / max(depth - 1, 1), "eigvalsh_s": eig_s,
            "kappa": cond.kappa, "kappa_resolved": cond.resolved}


def quadrature(n: int, layers: int = 3, order: int = 64, repeats: int = 3) -> dict:
    x = sphere_points(n, 64, seed=0)
    tanh = activations.get("tanh")
    opts = dict(sigma_w2=1.5, sigma_b2=0.05, order=order)

    def run(check):
        k = inf.kernels(x, tanh, layers, check_error=check, **opts)
        k.ntk.block_until_ready()
        return k

    _, first = timed(lambda: run(False))
    plain = min(timed(lambda: run(False))[1] for _ in range(repeats))
    k = run(True)  # compiles the error probes
    checked = min(timed(lambda: run(True))[1] for _ in range(repeats))
    q = layers - 1  # quadrature layers (layer 1 is Σ¹)
    return {"what": f"tanh NTK (quadrature, order {order})", "n": n, "depth": layers, "order": order,
            "compile_s": max(first - plain, 0.0), "per_layer_s": plain / q,
            "per_layer_with_check_s": checked / q,
            "check_overhead": (checked - plain) / plain,
            "errors": [e.as_dict() for e in k.errors]}


def main(n: int, depth: int) -> None:
    a = analytic(n, depth)
    b = quadrature(500)
    print(f"machine: {machine()}")
    print(f"{'kernel':<34} {'N':>5} {'depth':>5} {'compile':>8} {'compute':>8} {'per layer':>10}")
    print(f"{a['what']:<34} {a['n']:>5} {a['depth']:>5} {a['compile_s']:>7.2f}s {a['compute_s']:>7.2f}s "
          f"{a['per_layer_ms']:>8.1f}ms")
    print(f"{b['what']:<34} {b['n']:>5} {b['depth']:>5} {b['compile_s']:>7.2f}s "
          f"{b['per_layer_s'] * (b['depth'] - 1):>7.2f}s {b['per_layer_s']:>9.2f}s")
    kappa = f"{a['kappa']:.4g}" if a["kappa_resolved"] else "below the round-off floor"
    print(f"relu: κ(Θ^{depth}) = {kappa}, eigvalsh {a['eigvalsh_s']:.2f}s")
    print(f"tanh: with the error bound (orders {2 * b['order']}, {4 * b['order']} on probes) "
          f"{b['per_layer_with_check_s']:.2f}s per layer (+{100 * b['check_overhead']:.0f} %)")

    def bound(x):
        return "unresolved" if x is None else f"{x:.1e}"

    for e in b["errors"]:
        print(f"  layer {e['depth']}: |δΣ| ≤ {bound(e['sigma_abs'])} (rel {bound(e['sigma_rel'])}), "
              f"|δΣ̇| ≤ {bound(e['dot_abs'])} (rel {bound(e['dot_rel'])}), "
              f"|δΘ| ≤ {bound(e['ntk_abs'])}")
    save("infinite_kernel", {"machine": machine(), "analytic": a, "quadrature": b})


if __name__ == "__main__":
    args = [int(v) for v in sys.argv[1:]]
    main(*(args + [2000, 20][len(args):]))
