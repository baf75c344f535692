"""Kernels at the symmetric limit (issue 18): the layer-wise empirical NTK's own time (kernel_s,
without compilation or eigenvalues) against one symmetric Gram product of the wide layer's
matrix (numpy's `a @ a.T`, which BLAS runs as syrk), timed in the same run on the same machine.

Seed 000's network: n₀ = 400, n₁ = 8N, n₂ = 400, cos, float64, N samples on the sphere. The
layer-wise formula needs two wide Gram products (Δ₁Δ₁ᵀ and A₁A₁ᵀ, both N × n₁) plus the forward
and backward passes, so about 2.4 such products is its floor; the issue's target is
kernel_s ≤ 3 × gram_s at N = 4000. XLA's own jitted product of the same matrix is timed beside it
(its float64 product is slower than numpy's BLAS on CPUs). The BLAS floor (`floor_seconds`) is
what the formula's products alone cost here: two symmetric Gram products and the passes' three
wide products, without the activation.

    scripts/bench symmetric                          # N = 1000 and 4000
    scripts/bench symmetric --samples 1000 4000 --scale   # and the N = 10,000 scale run
    scripts/bench symmetric --samples 4000 --profile      # and where one kernel's time goes

Beside `ntk kernel`'s own time (each repeat a fresh kernel, as one process computes it) it
reports the same kernel computed again at once in the same process (`rerun_s`, on memory the
first run has just freed) and this machine's cost of writing fresh memory
(`first_touch_s_per_gib`): a kernel at N = 4000 writes about 3 GiB of new buffers, and on a
virtual machine whose host takes freed memory back that cost swings by seconds from run to run.

--scale adds the N = 10,000, n₁ = 80,000 run as a fresh `ntk kernel --json` process under a
4 GiB budget (NTK_MEMORY_BUDGET), with its timings and peak resident memory (getrusage).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from benchkit import machine, save


def seed000_spec(width: int):
    """Seed 000's network with a hidden layer of `width`: n₀ = 400, n₂ = 400, cos, one output."""
    from engine.mlp import MLPSpec

    return MLPSpec((400, width, 400, 1), "cos", 1.0, "ntk", 1.0, 0.0)


def gram_seconds(n: int, width: int, repeats: int) -> float:
    """The fastest of `repeats` symmetric Gram products a aᵀ of an n × width float64 matrix."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, width))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        g = a @ a.T
        best = min(best, time.perf_counter() - start)
        del g
    return best


def floor_seconds(n: int, width: int, n0: int, repeats: int, gram: float) -> float:
    """A lower bound on any layer-wise kernel of this network on this machine, from BLAS alone:
    its two wide Gram products (each at least one symmetric product, `gram`) and the three wide
    matrix products of the passes, h₁ = x W₁ᵀ and ∂f/∂a₁ = Δ₂ W₂ (n × n₀ by n₀ × width) and
    h₂ = φ(h₁) W₂ᵀ (n × width by width × n₀), timed by numpy; the activation and every elementwise
    step are left out, so no implementation of the formula runs faster."""
    import numpy as np

    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((n, n0)), rng.standard_normal((width, n0))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        h = x @ w.T  # h₁
        u = x @ w.T  # Δ₂ W₂: the same shapes, so the same product stands in for it
        y = h @ w  # h₂
        best = min(best, time.perf_counter() - start)
        del h, u, y
    return 2 * gram + best


def xla_gram_seconds(n: int, width: int, repeats: int) -> float:
    """The same product jitted by XLA (float64): the matrix unit ntk's own steps run on, so the
    share of the gap to numpy that is XLA's product rather than ntk's arithmetic shows."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from engine import backend

    backend.configure()
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, width)))
    gram = jax.jit(lambda m: m @ m.T)
    gram(a).block_until_ready()  # compiled outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        gram(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return best


def kernel_seconds(n: int, width: int, repeats: int) -> dict:
    from engine import data
    from engine.ntk import empirical_kernel

    spec = seed000_spec(width)
    x = data.sphere_points(n, 400, 0)
    runs = [empirical_kernel(spec, x) for _ in range(repeats)]
    best = min(runs, key=lambda r: r.kernel_s)
    return {"kernel_s": best.kernel_s, "compile_s": runs[0].compile_s,
            "spectrum_s": best.spectrum_s, "tile": best.plan.tile, "tiles": best.plan.tiles,
            "chunk": best.plan.chunk, "streamed_layers": best.plan.streamed_layers,
            "lambda_min": best.spectrum.lambda_min, "memory_estimate_gib":
            best.memory_estimate / 1024**3}


def first_touch_seconds(gib: float = 1.0) -> float:
    """Seconds to write `gib` GiB of freshly allocated memory once: what each new page of a kernel's
    buffers costs this machine before any arithmetic (page faults and zeroing; on a virtual
    machine whose host reclaims freed memory, the host's own fault too)."""
    import numpy as np

    start = time.perf_counter()
    a = np.empty(int(gib * 2**30) // 8)
    a.fill(1.0)
    seconds = time.perf_counter() - start
    del a
    return seconds / gib


def rerun_seconds(n: int, width: int) -> float:
    """The kernel computed twice back to back in one process (no eigenvalues between), the second
    timed: its buffers reuse memory the first one has just freed, so the machine's cost of fresh
    memory (`first_touch_seconds`) mostly drops out."""
    import jax

    from engine import data, mlp, ntk

    spec = seed000_spec(width)
    x = jax.numpy.asarray(data.sphere_points(n, 400, 0))
    params = mlp.init(spec, 0)
    progs = ntk._programs(spec, ntk.choose_plan(spec, n, x.dtype), params, x)
    jax.block_until_ready(progs.run(params, x))
    start = time.perf_counter()
    jax.block_until_ready(progs.run(params, x))
    return time.perf_counter() - start


def profile(n: int, width: int) -> dict:
    """Seconds per kind of step of one kernel (the passes, the narrow tiles, each chunk's features,
    the chunk tiles off and on the diagonal), each step waited for as it runs."""
    import collections

    import jax

    from engine import data, mlp, ntk

    spec = seed000_spec(width)
    x = jax.numpy.asarray(data.sphere_points(n, 400, 0))
    plan = ntk.choose_plan(spec, n, x.dtype)
    params = mlp.init(spec, 0)
    progs = ntk._programs(spec, plan, params, x)
    spent = collections.Counter()

    def timed(name, step):
        def run(*args):
            start = time.perf_counter()
            out = jax.block_until_ready(step(*args))
            spent[name] += time.perf_counter() - start
            return out
        return run

    def pair(name, steps):  # a tile step's two programs: off the diagonal (a row panel), on it
        off = "row panels" if progs.panels else "off diagonal"
        return tuple(timed(f"{name} ({where})", s) for where, s in zip((off, "diagonal"), steps))

    progs.passes = timed("passes", progs.passes)
    progs.stored = pair("stored-layer tiles", progs.stored)
    for m in progs.groups:
        progs.factors[m] = pair("narrow tiles", progs.factors[m])
        progs.features[m] = timed("chunk features", progs.features[m])
        progs.chunk_tile[m] = pair("chunk tiles", progs.chunk_tile[m])
    start = time.perf_counter()
    jax.block_until_ready(progs.run(params, x))
    total = time.perf_counter() - start
    return {"total_s": total, **{k: round(v, 3) for k, v in spent.items()},
            "rest_s": total - sum(spent.values())}


def scale_run(samples: int, n1: int, budget_gib: float) -> dict:
    env = dict(os.environ, NTK_MEMORY_BUDGET=str(int(budget_gib * 1024**3)))
    cmd = [sys.executable, "-m", "ntktui", "kernel", "--act", "cos", "--samples", str(samples),
           "--n0", "400", "--hidden", f"{n1},400", "--dtype", "float64", "--json"]
    print("running:", " ".join(cmd[2:]), f"(NTK_MEMORY_BUDGET={budget_gib:g} GiB)", flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
    if done.returncode != 0:
        print(done.stderr.strip())
        raise SystemExit(done.returncode)
    r = json.loads(done.stdout)
    return {"samples": samples, "n1": n1, **r["timings"], "wall_s": wall,
            "peak_rss_gib": peak / 1024**3, "estimate_gib": r["memory_bytes"] / 1024**3,
            "budget_gib": budget_gib, "chunk": r["chunk"], "lambda_min": r["lambda_min"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scale", action="store_true", help="also the N = 10,000 scale run")
    ap.add_argument("--budget-gib", type=float, default=4.0)
    ap.add_argument("--profile", action="store_true",
                    help="also the seconds per kind of step of one kernel at each N")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    for n in args.samples:
        width = 8 * n
        gram = gram_seconds(n, width, args.repeats)
        xla = xla_gram_seconds(n, width, args.repeats)
        floor = floor_seconds(n, width, 400, args.repeats, gram)
        touch = first_touch_seconds()
        k = kernel_seconds(n, width, args.repeats)
        rerun = rerun_seconds(n, width)
        row = {"samples": n, "n1": width, "gram_s": gram, "xla_gram_s": xla, "floor_s": floor,
               **k, "ratio": k["kernel_s"] / gram, "ratio_to_xla": k["kernel_s"] / xla,
               "floor_ratio": floor / gram, "first_touch_s_per_gib": touch,
               "rerun_s": rerun, "rerun_ratio": rerun / gram}
        rows.append(row)
        print(f"N={n:>6} n1={width:>6}  a@a.T {gram:7.2f} s (XLA's {xla:6.2f} s)  kernel "
              f"{k['kernel_s']:7.2f} s  ratio {row['ratio']:.2f} "
              f"(to XLA's {row['ratio_to_xla']:.2f}; BLAS floor {row['floor_ratio']:.2f})"
              f"  (tile {k['tile']} × {k['tiles']}, chunk {k['chunk']}, "
              f"compile {k['compile_s']:.1f} s, eigenvalues {k['spectrum_s']:.2f} s)\n"
              f"    rerun in the same process {rerun:.2f} s (ratio {row['rerun_ratio']:.2f}); "
              f"first touch of fresh memory {touch:.2f} s/GiB", flush=True)
        if args.profile:
            row["profile"] = profile(n, width)
            print("    steps:", ", ".join(f"{k} {v:.2f} s" for k, v in row["profile"].items()),
                  flush=True)
    result = {"rows": rows, "load_average_at_start": load,
              "machine": machine()}
    if args.scale:
        result["scale"] = scale_run(10_000, 80_000, args.budget_gib)
        for key, value in result["scale"].items():
            print(f"{key:>16}: {value}")
    print(f"load average at start {load:.2f} on {result['machine']}")
    save("symmetric", result)


if __name__ == "__main__":
    from ntktui.start import with_huge_pages

    with_huge_pages()  # the environment `ntk kernel` runs in
    main()
