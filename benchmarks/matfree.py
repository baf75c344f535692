"""Matrix-free top eigenpairs of the empirical NTK at image scale (engine.matfree).

A coordinate MLP with 4 weight layers of width 256 (2-256-256-256-1, sin(s·t), standard
parameterisation, float64) on the side × side grid of [0, 1)² (side 256: N = 65,536, whose dense
kernel would take 34 GB). Reported, in one run:

- one forward pass over the grid (the yardstick), and one product K·V of a block of b vectors,
  as seconds per vector and per vector over the forward pass;
- the top-K eigenpairs by block Lanczos: wall time, Krylov dimension, products, how many converged
  (residual ≤ tol · λ_max), the largest residual relative to λ_max;
- tr K exactly (per-sample gradients) and the share of it in the top K;
- the peak resident memory of the process (ru_maxrss) and the load average before and after;
- with --check-dense (side ≤ 90): the eigenvalues against dense eigh of the same kernel.

    scripts/bench matfree                        # side 256, top 100 (the issue's target: < 10 min, < 4 GiB)
    scripts/bench matfree --side 64 --check-dense
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import backend, matfree, mlp, models  # noqa: E402

backend.configure()
import numpy as np  # noqa: E402

from benchkit import machine, save  # noqa: E402


def grid(side: int) -> np.ndarray:
    g = np.arange(side) / side
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--act", default="sin")
    ap.add_argument("--scale", type=float, default=3.0)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--max-dim", type=int, default=None)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--check-dense", action="store_true")
    args = ap.parse_args(argv)
    wall = time.perf_counter()
    load_before = os.getloadavg()
    w = args.width
    spec = mlp.MLPSpec((2, w, w, w, 1), args.act, args.scale, "standard", 1.0, 1.0)
    x = grid(args.side)
    N = x.shape[0]
    model = (spec, mlp.init(spec, 0))
    print(f"machine: {machine()}; load average {load_before[0]:.2f}")
    print(f"network {list(spec.widths)} {args.act}({args.scale:g}·t), {spec.parameter_count} "
          f"parameters; N = {N} ({args.side}²), {args.dtype}; dense K would take "
          f"{N * N * 8 / 1e9:.1f} GB")

    op = matfree.KernelOperator(model, x, dtype=args.dtype)
    op.forward()
    start = time.perf_counter()
    op.forward()
    forward_s = time.perf_counter() - start
    b = args.block_size or max(4, min(16, args.top))
    start = time.perf_counter()
    _, rows, product_bytes = op.compiled(b)
    compile_s = time.perf_counter() - start
    V = np.random.default_rng(0).standard_normal((N, b))
    start = time.perf_counter()
    op.matvec(V)
    per_vector = (time.perf_counter() - start) / b
    print(f"forward pass {forward_s:.3f} s; product of {b} vectors (rows of {rows}, XLA's "
          f"{product_bytes / 2**20:.0f} MiB, compiled in {compile_s:.1f} s): {per_vector:.3f} s per "
          f"vector = {per_vector / forward_s:.2f} forward passes", flush=True)

    last = [time.perf_counter()]

    def progress(dim, max_dim, converged):
        now = time.perf_counter()
        if now - last[0] > 30 or dim >= max_dim:
            print(f"  Krylov dimension {dim}/{max_dim}, {converged} converged "
                  f"({now - wall:.0f} s)", flush=True)
            last[0] = now

    pairs = matfree.eigsh(op, args.top, tol=args.tol, block_size=b, max_dim=args.max_dim,
                          progress=progress)
    rel = pairs.residuals / pairs.ritz_max
    print(f"top {args.top}: {pairs.seconds:.0f} s, Krylov dimension {pairs.krylov_dim}, "
          f"{pairs.products} vectors multiplied, {int(pairs.converged.sum())} converged "
          f"(tol {args.tol:g}); λ_max = {pairs.values[0]:.6g}, λ_{args.top} = {pairs.values[-1]:.6g}; "
          f"largest residual / λ_max = {rel.max():.1e}", flush=True)
    start = time.perf_counter()
    tr = matfree.exact_trace(op)
    trace_s = time.perf_counter() - start
    share = float(pairs.values.sum() / tr.trace)
    print(f"tr K = {tr.trace:.6g} ({trace_s:.0f} s); the top {args.top} hold {share:.1%} of it")
    row = {"side": args.side, "N": N, "widths": list(spec.widths), "activation": args.act,
           "scale": args.scale, "dtype": args.dtype, "parameters": spec.parameter_count,
           "forward_s": forward_s, "block_size": b, "rows": rows, "product_bytes": product_bytes,
           "product_s_per_vector": per_vector, "product_over_forward": per_vector / forward_s,
           "lanczos_s": pairs.seconds, "krylov_dim": pairs.krylov_dim, "products": pairs.products,
           "converged": int(pairs.converged.sum()), "top": args.top, "tol": args.tol,
           "eigenvalues": pairs.values.tolist(), "residuals": pairs.residuals.tolist(),
           "max_relative_residual": float(rel.max()), "trace": tr.trace, "trace_s": trace_s,
           "top_share_of_trace": share}
    if args.check_dense:
        K = models.empirical_ntk(model, x, dtype=args.dtype).matrix
        ev = np.linalg.eigvalsh(K)[::-1][: args.top]
        err = np.abs(pairs.values - ev)
        row["dense_max_abs_error"] = float(err.max())
        row["bounds_hold"] = bool(np.all(err <= pairs.residuals + 1e-12 * ev[0]))
        print(f"against dense eigh: largest |θ − λ| = {err.max():.2e} (λ_max {ev[0]:.4g}); "
              f"within the residual bounds: {row['bounds_hold']}")
    row["wall_s"] = time.perf_counter() - wall
    row["peak_rss_bytes"] = peak_rss_bytes()
    row["load_average_before"] = list(load_before)
    row["load_average_after"] = list(os.getloadavg())
    print(f"wall {row['wall_s']:.0f} s; peak resident memory {row['peak_rss_bytes'] / 2**30:.2f} GiB; "
          f"load average {load_before[0]:.2f} → {row['load_average_after'][0]:.2f}")
    save("matfree", {"machine": machine(), "row": row})


if __name__ == "__main__":
    main()
