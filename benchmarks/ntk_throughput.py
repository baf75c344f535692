"""Throughput of the layer-wise empirical NTK (issue 3) on seed 000's network.

n₀ = 400, n₁ = 8N, n₂ = 400, output 1, float32 by default, N = 250, 500, 1000. For each N:

- the layer-wise kernel's compute time (best of 3, compiled beforehand);
- its rate in GFLOP/s, counting the matrix products of the layer-wise formula once each (the
  forward pass, the back-propagation and the Gram matrices, 2mnk flops per m×k by k×n product;
  recomputation in streamed layers is not counted as useful work);
- the machine's matmul rate measured in the same run: one jitted Gram product of the same shape
  and dtype as the dominant one (N × n₁ by n₁ × N), best of 3; the fraction is rate / matmul rate;
- the autodiff reference (engine.ntk.autodiff_ntk, Jacobian blocks sized to stay under ~2 GiB),
  its time, the ratio autodiff / layer-wise, and the largest relative difference between them.

    scripts/bench ntk                         # N = 250, 500, 1000, cos and relu, float32
    scripts/bench ntk --samples 1000 --dtype float64 --no-autodiff
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import backend, data, mlp, ntk  # noqa: E402

backend.configure()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchkit import best_of, machine, save  # noqa: E402


def layerwise_flops(N: int, widths) -> float:
    """Forward products, back-propagation products and the Gram matrices of every layer."""
    n = widths
    forward = sum(2 * N * n[l - 1] * n[l] for l in range(1, len(n)))
    backward = sum(2 * N * n[l] * n[l - 1] for l in range(2, len(n)))  # Δ_l W_l for l ≥ 2
    grams = sum(2 * N * N * n[l - 1] for l in range(1, len(n)))  # A_{l−1}A_{l−1}ᵀ
    grams += sum(2 * N * N * n[l] for l in range(1, len(n) - 1))  # Δ_lΔ_lᵀ, hidden layers
    return float(forward + backward + grams)


def matmul_rate(N: int, n1: int, dtype) -> float:
    a = jnp.asarray(np.random.default_rng(0).standard_normal((N, n1)), dtype)
    b = jnp.asarray(np.random.default_rng(1).standard_normal((N, n1)), dtype)
    f = jax.jit(lambda a, b: jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST))
    f(a, b).block_until_ready()
    return 2.0 * N * N * n1 / best_of(lambda: f(a, b))


def one(N: int, act: str, dtype, autodiff: bool) -> dict:
    widths = (400, 8 * N, 400, 1)
    spec = mlp.MLPSpec(widths, act, 1.0, "ntk", 1.0, 0.0)
    x = jnp.asarray(data.sphere_points(N, 400, 0), dtype)
    params = mlp.init(spec, 0, dtype)
    plan = ntk.choose_plan(spec, N, dtype)
    program = ntk._program(spec, plan)
    start = time.perf_counter()
    compiled = program.lower(params, x).compile()
    compile_s = time.perf_counter() - start
    K = compiled(params, x).block_until_ready()
    t = best_of(lambda: compiled(params, x))
    flops = layerwise_flops(N, widths)
    mm = matmul_rate(N, widths[1], dtype)
    row = {"N": N, "activation": act, "dtype": jnp.dtype(dtype).name, "parameters": spec.parameter_count,
           "chunk": plan.chunk, "streamed_layers": plan.streamed_layers, "compile_s": compile_s,
           "layerwise_s": t, "gflops": flops / 1e9, "rate_gflops": flops / t / 1e9,
           "matmul_gflops": mm / 1e9, "fraction_of_matmul": flops / t / mm}
    if autodiff:
        # Block memory: the block's Jacobian rows plus the jvp's tangent activations (~3 per
        # hidden unit per sample); a divisor of N so that every block shares one compilation.
        item = jnp.dtype(dtype).itemsize
        per_row = (spec.parameter_count + 3 * N * max(widths)) * item
        bound = max(1, (2 * 1024**3) // per_row)
        block = max(d for d in range(1, min(N, bound) + 1) if N % d == 0)
        f = lambda p, xb: mlp.apply(spec, p, xb)  # noqa: E731
        jax.block_until_ready(ntk._autodiff_programs(f)[1](params, x, x[:block]))  # compile
        start = time.perf_counter()
        K_ref = ntk.autodiff_ntk(f, params, x, block=block)
        row["autodiff_s"] = time.perf_counter() - start
        row["autodiff_block"] = block
        row["autodiff_over_layerwise"] = row["autodiff_s"] / t
        K = np.asarray(K, np.float64)
        row["max_rel_diff"] = float(np.abs(K - K_ref).max() / np.abs(K_ref).max())
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="250,500,1000")
    ap.add_argument("--act", action="append")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--no-autodiff", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.samples.split(",")]
    dtype = jnp.dtype(args.dtype)
    rows = []
    print(f"machine: {machine()}")
    print(f"{'N':>5} {'act':>5} {'layer-wise':>11} {'GFLOP/s':>8} {'matmul':>8} {'fraction':>8} "
          f"{'autodiff':>9} {'ratio':>7} {'rel.diff':>9}")
    for N in sizes:
        for act in args.act or ["cos", "relu"]:
            r = one(N, act, dtype, not args.no_autodiff)
            rows.append(r)
            print(f"{N:>5} {act:>5} {r['layerwise_s']:>10.3f}s {r['rate_gflops']:>8.1f} "
                  f"{r['matmul_gflops']:>8.1f} {r['fraction_of_matmul']:>8.2f} "
                  + (f"{r['autodiff_s']:>8.2f}s {r['autodiff_over_layerwise']:>7.0f} "
                     f"{r['max_rel_diff']:>9.1e}" if "autodiff_s" in r else ""), flush=True)
    save("ntk_throughput", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
