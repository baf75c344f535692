"""The generic empirical NTK implementations (engine.models) against the layer-wise path, on seed
000's network in the same run: n₀ = 400, n₁ = 8N, n₂ = 400, output 1, cos, ntk parameterisation.

For each N: the layer-wise kernel (engine.ntk, compiled beforehand, best of 3), then
`engine.models.empirical_ntk` with implementation contraction and products on the same network
given as a plain function (apply, params), their compile and compute times, their ratio to the
layer-wise time, the largest difference to the layer-wise kernel relative to its largest entry,
and which implementation `auto` would pick for the plain function, with its reason.

    scripts/bench models                           # N = 250, 500, float64
    scripts/bench models --samples 250 --dtype float32
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import backend, data, mlp, models, ntk  # noqa: E402

backend.configure()
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchkit import best_of, machine, save  # noqa: E402


def one(N: int, dtype) -> dict:
    spec = mlp.MLPSpec((400, 8 * N, 400, 1), "cos", 1.0, "ntk", 1.0, 0.0)
    x = data.sphere_points(N, 400, 0)
    params = mlp.init(spec, 0, dtype)
    xj = jnp.asarray(x, dtype)
    plan = ntk.choose_plan(spec, N, dtype)
    compiled = ntk._program(spec, plan).lower(params, xj).compile()
    K_lw = np.asarray(compiled(params, xj), np.float64)
    t_lw = best_of(lambda: compiled(params, xj))
    row = {"N": N, "dtype": jnp.dtype(dtype).name, "parameters": spec.parameter_count,
           "layerwise_s": t_lw}
    apply = lambda p, xb: mlp.apply(spec, p, xb)  # noqa: E731  the network as "your own model"
    model = models.as_model((apply, params))
    for impl in ("contraction", "products"):
        r = models.empirical_ntk(model, x, implementation=impl, dtype=dtype)
        row[impl] = {"compile_s": r.compile_s, "compute_s": r.compute_s, "block": r.block,
                     "memory_estimate": r.memory_estimate,
                     "estimated_flop_equivalents": r.costs.flops[impl],
                     "over_layerwise": r.compute_s / t_lw,
                     "max_rel_diff": float(np.abs(r.matrix - K_lw).max() / np.abs(K_lw).max())}
    costs = models.estimate_costs(model, N, N, 1, True, False, r.costs.forward_flops,
                                  r.costs.activation_bytes, jnp.dtype(dtype).itemsize)
    impl, why = models.choose_implementation(model, N, N, 1, symmetric=True, full=False,
                                             costs=costs, item=jnp.dtype(dtype).itemsize,
                                             available=backend.available_bytes())
    row["auto_on_function"] = {"implementation": impl, "reason": why}
    row["forward_flops_per_sample"] = r.costs.forward_flops
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="250,500")
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args(argv)
    dtype = jnp.dtype(args.dtype)
    rows = []
    print(f"machine: {machine()}")
    print(f"{'N':>5} {'params':>8} {'layer-wise':>10} | {'contraction':>11} {'ratio':>6} {'rel.diff':>8} "
          f"| {'products':>9} {'ratio':>6} {'rel.diff':>8} | auto picks")
    for N in [int(s) for s in args.samples.split(",")]:
        r = one(N, dtype)
        rows.append(r)
        c, p = r["contraction"], r["products"]
        print(f"{N:>5} {r['parameters'] / 1e6:>7.1f}M {r['layerwise_s']:>9.3f}s | "
              f"{c['compute_s']:>10.2f}s {c['over_layerwise']:>6.0f} {c['max_rel_diff']:>8.1e} | "
              f"{p['compute_s']:>8.2f}s {p['over_layerwise']:>6.0f} {p['max_rel_diff']:>8.1e} | "
              f"{r['auto_on_function']['implementation']}", flush=True)
    save("models", {"machine": machine(), "load_average": list(os.getloadavg()), "rows": rows})


if __name__ == "__main__":
    main()
