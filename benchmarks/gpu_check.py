"""The GPU check: on a GPU server, everything that differs on an accelerator, in one run of about
8 minutes at most, ending with a table for the README.

Stages (each in its own time budget; a stage that fails or runs out is reported, not fatal):
1. devices and memory: the backend, every device, the memory the first can allocate;
2. the device tests: tests/test_devices.py (every device used and equal to one, memory from the
   device, float64 eigenvalues on the device, float32 free of TF32) and the sharding tests;
3. the device's matmul rate (a jitted Gram product A·Aᵀ at HIGHEST precision, float32 and float64);
4. empirical NTK throughput on seed 000's network (n₀ = 400, n₁ = 8N, n₂ = 400, cos, float32) at
   N = 1000, 2000, 4000, 8000 while time remains: the kernel's own time, its useful GFLOP/s (the
   products of the layer-wise formula counted once) and that rate over the matmul rate;
5. the largest N that fits (float32, the same network): from the tool's own memory plan, and the
   time it would take from the measured throughput;
6. the 4096 × 4096 spectrum of the shallow Jacobian (float64 SVD on the device) against numpy's
   LAPACK on the host;
7. the infinite-width relu NTK, N = 2000, depth 20, and float64 eigenvalues of a 4000 × 4000
   kernel on the device against the host.

    scripts/gpu-check                       # set up (CUDA extra), run, print the table
    scripts/gpu-check --wheels DIR          # offline: install from a folder of wheels
    .venv/bin/python benchmarks/gpu_check.py --allow-cpu --budget 120   # a dry run on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import benchkit
from benchkit import best_of, save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def stage(results: list, name: str, budget_s: float):
    """Decorator-like runner: fn() -> dict of figures, timed, errors caught."""

    def run(fn):
        start = time.perf_counter()
        try:
            out = fn(budget_s)
            status = "ok"
        except Exception as exc:  # a stage's failure is a finding, not the end of the check
            out, status = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}, \
                "failed"
        results.append({"stage": name, "status": status, "seconds": time.perf_counter() - start,
                        **out})
        print(f"[{status}] {name} ({results[-1]['seconds']:.1f} s): "
              f"{json.dumps({k: v for k, v in out.items()}, default=str)[:400]}", flush=True)
        return out

    return run


def devices(_budget) -> dict:
    import jax

    from engine import backend

    backend.configure()
    d = jax.devices()
    return {"backend": jax.default_backend(), "devices": [f"{x.platform}:{x.device_kind}" for x in d],
            "count": len(d), "memory_available_gib": backend.available_bytes() / 2**30,
            "x64": bool(jax.config.jax_enable_x64), "jax": jax.__version__}


def device_tests(budget) -> dict:
    env = {**os.environ, "NTK_GPU_CHECK": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_devices.py", "tests/test_ntk.py", "-k",
                           "device or shard or gpu or chunk"],
                          cwd=ROOT, capture_output=True, text=True, timeout=budget, env=env)
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode != 0:
        raise RuntimeError(f"pytest exit {done.returncode}: {last}; "
                           + " | ".join(l for l in done.stdout.splitlines() if "FAILED" in l)[:400])
    return {"summary": last}


def gram_rate(N: int, n1: int, dtype) -> float:
    """FLOP/s of one jitted A·Aᵀ (N × n1) at HIGHEST precision."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    a = jnp.asarray(np.random.default_rng(0).standard_normal((N, n1)), dtype)
    f = jax.jit(lambda a: jnp.matmul(a, a.T, precision=jax.lax.Precision.HIGHEST))
    f(a).block_until_ready()
    return 2.0 * N * N * n1 / best_of(lambda: f(a))


def matmul(budget, N: int = 4000) -> dict:
    import jax.numpy as jnp

    return {"N": N, "n1": 8 * N,
            "float32_tflops": gram_rate(N, 8 * N, jnp.float32) / 1e12,
            "float64_tflops": gram_rate(N, 8 * N, jnp.float64) / 1e12}


def layerwise_flops(N: int, widths) -> float:
    """The products of the layer-wise formula, each counted once (forward, back-propagation and
    the Gram matrices of every layer)."""
    n = widths
    forward = sum(2 * N * n[l - 1] * n[l] for l in range(1, len(n)))
    backward = sum(2 * N * n[l] * n[l - 1] for l in range(2, len(n)))
    grams = sum(2 * N * N * n[l - 1] for l in range(1, len(n)))
    grams += sum(2 * N * N * n[l] for l in range(1, len(n) - 1))
    return float(forward + backward + grams)


def throughput(budget, sizes=(1000, 2000, 4000, 8000)) -> dict:
    import jax.numpy as jnp

    from engine import data, mlp, ntk

    rows, deadline = [], time.perf_counter() + budget
    for N in sizes:
        if rows and time.perf_counter() + 6 * rows[-1]["kernel_s"] > deadline:
            break  # the next size takes ~4–8× the last: it would not finish in time
        widths = (400, 8 * N, 400, 1)
        spec = mlp.MLPSpec(widths, "cos", 1.0, "ntk", 1.0, 0.0)
        x = data.sphere_points(N, 400, 0)
        ntk.empirical_kernel(spec, x, dtype="float32")  # compile
        r = ntk.empirical_kernel(spec, x, dtype="float32")
        kernel_s = getattr(r, "kernel_s", r.compute_s)
        rate = layerwise_flops(N, widths) / kernel_s
        mm = gram_rate(N, widths[1], jnp.float32)
        rows.append({"N": N, "kernel_s": kernel_s, "tflops": rate / 1e12,
                     "matmul_tflops": mm / 1e12, "fraction_of_matmul": rate / mm,
                     "chunk": r.plan.chunk, "devices": r.plan.devices})
    return {"rows": rows}


def largest(budget, rows=None) -> dict:
    """The largest N whose float32 kernel the tool's memory plan accepts (bisection on the plan,
    nothing allocated), and the time it would take from the measured rate."""
    import jax.numpy as jnp

    from engine import mlp, ntk
    from engine.errors import InsufficientMemory

    def fits(N: int) -> bool:
        try:
            ntk.choose_plan(mlp.MLPSpec((400, 8 * N, 400, 1), "cos"), N, jnp.float32)
            return True
        except InsufficientMemory:
            return False

    lo, hi = 1000, 2000
    while fits(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 250:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    out = {"largest_N": lo, "kernel_gib_float32": lo * lo * 4 / 2**30}
    if rows:
        rate = rows[-1]["tflops"] * 1e12
        out["predicted_kernel_s"] = layerwise_flops(lo, (400, 8 * lo, 400, 1)) / rate
    return out


def spectrum_4096(budget, n: int = 4096) -> dict:
    import numpy as np

    from engine.activations import get
    from engine.shallow import grid, jacobian, spectrum

    spectrum(get("relu"), n, n, 32.0)  # compile
    start = time.perf_counter()
    s = spectrum(get("relu"), n, n, 32.0)
    device_s = time.perf_counter() - start
    a = np.asarray(jacobian(get("relu"), grid(n), grid(n), 32.0))
    start = time.perf_counter()
    ref = np.linalg.svd(a, compute_uv=False)
    host_s = time.perf_counter() - start
    return {"n": n, "device_s": device_s, "host_lapack_s": host_s, "host_over_device": host_s / device_s,
            "max_rel_diff_top100": float(np.max(np.abs(s.singular_values[:100] - ref[:100])
                                                / ref[:100]))}


def infinite_and_eigen(budget) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from engine import data, infinite as inf, ntk
    from engine.activations import get

    x = data.sphere_points(2000, 64, 0)
    inf.kernels(x, get("relu"), 20)  # compile
    start = time.perf_counter()
    k = inf.kernels(x, get("relu"), 20)
    jax.block_until_ready(k.ntk)
    infinite_s = time.perf_counter() - start
    n = 4000
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))[0]
    K = (q * np.logspace(0, -10, n)) @ q.T
    Kd = jax.device_put(jnp.asarray(K, jnp.float64), jax.devices()[0])
    ntk.kernel_spectrum(Kd, "float64")  # compile
    start = time.perf_counter()
    s = ntk.kernel_spectrum(Kd, "float64")
    device_s = time.perf_counter() - start
    start = time.perf_counter()
    np.linalg.eigvalsh(K)
    host_s = time.perf_counter() - start
    return {"infinite_relu_n2000_depth20_s": infinite_s, "eigvalsh_4000_device_s": device_s,
            "eigvalsh_4000_host_s": host_s, "lambda_min_rel_err": abs(s.lambda_min - 1e-10) / 1e-10}


def rate(flops: float) -> str:
    return f"{flops / 1e12:.1f} TFLOP/s" if flops >= 1e12 else f"{flops / 1e9:.1f} GFLOP/s"


def table(results: list) -> str:
    by = {r["stage"]: r for r in results}
    lines = ["| figure | value |", "| --- | --- |"]
    d = by.get("devices", {})
    lines.append(f"| devices | {', '.join(d.get('devices', []))} ({d.get('memory_available_gib', 0):.1f} GiB free, JAX {d.get('jax')}) |")
    lines.append(f"| device tests | {by.get('device tests', {}).get('summary', by.get('device tests', {}).get('error'))} |")
    m = by.get("matmul", {})
    if "float32_tflops" in m:
        lines.append(f"| Gram A·Aᵀ {m['N']}×{m['n1']} | {rate(m['float32_tflops'] * 1e12)} "
                     f"float32, {rate(m['float64_tflops'] * 1e12)} float64 |")
    for row in by.get("throughput", {}).get("rows", []):
        lines.append(f"| empirical NTK N = {row['N']:,} (n₁ = {8 * row['N']:,}, float32) | "
                     f"{row['kernel_s']:.2f} s, {rate(row['tflops'] * 1e12)} = "
                     f"{row['fraction_of_matmul']:.2f} × Gram rate |")
    g = by.get("largest N", {})
    if "largest_N" in g:
        pred = f", ≈ {g['predicted_kernel_s']:.0f} s" if "predicted_kernel_s" in g else ""
        lines.append(f"| largest N that fits (float32) | {g['largest_N']:,}{pred} |")
    s = by.get("spectrum 4096", {})
    if "device_s" in s:
        lines.append(f"| {s['n']} × {s['n']} spectrum (float64 SVD) | {s['device_s']:.2f} s on the "
                     "device, "
                     f"{s['host_lapack_s']:.2f} s host LAPACK |")
    i = by.get("infinite and eigenvalues", {})
    if "infinite_relu_n2000_depth20_s" in i:
        lines.append(f"| infinite-width relu NTK, N = 2000, depth 20 | "
                     f"{i['infinite_relu_n2000_depth20_s']:.2f} s |")
        lines.append(f"| float64 eigenvalues 4000 × 4000 | {i['eigvalsh_4000_device_s']:.2f} s on "
                     f"the device, {i['eigvalsh_4000_host_s']:.2f} s host |")
    failed = [r["stage"] for r in results if r["status"] != "ok"]
    if failed:
        lines.append(f"| stages that failed | {', '.join(failed)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check")
    ap.add_argument("--allow-cpu", action="store_true", help="run on a CPU (a dry run)")
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    args = ap.parse_args(argv)
    import jax

    from engine import backend

    backend.configure()
    if jax.default_backend() == "cpu" and not args.allow_cpu:
        print("gpu-check: JAX sees no GPU (backend cpu): is the CUDA plugin installed "
              "(NTK_EXTRA=cuda12 or cuda13) and a GPU visible? --allow-cpu for a dry run.",
              file=sys.stderr)
        return 2
    b = args.budget
    results: list = []
    stage(results, "devices", b)(devices)
    stage(results, "device tests", 240)(device_tests)  # compilation dominates: not the budget's
    stage(results, "matmul", 0.05 * b)(matmul if jax.default_backend() != "cpu"
                                       else lambda bb: matmul(bb, N=1000))
    sizes = tuple(int(s) for s in args.sizes.split(","))
    tp = stage(results, "throughput", 0.35 * b)(lambda bb: throughput(bb, sizes))
    stage(results, "largest N", 0.02 * b)(lambda bb: largest(bb, tp.get("rows")))
    on_cpu = jax.default_backend() == "cpu"
    stage(results, "spectrum 4096", 0.10 * b)(lambda bb: spectrum_4096(bb, 1024 if on_cpu else 4096))
    stage(results, "infinite and eigenvalues", 0.10 * b)(infinite_and_eigen)
    text = table(results)
    machine = f"{platform.node()} · {benchkit.machine()}"
    print(f"\n{machine}\n\n{text}")
    path = save("gpu-check", {"machine": machine, "results": results}, default=str)
    path.with_suffix(".md").write_text(f"{machine}\n\n{text}\n")  # the same stamp as the JSON
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
