"""Cold-process timing of `ntk spectrum` (issue 2): each run is a fresh Python process.

Splits every run into start-up (interpreter, Typer, JAX and engine import), compilation and
computation, using the timings the command reports in its JSON, and compares the computation
with numpy's LAPACK SVD of the same matrix timed in this process (the reference, same run).
Runs twice per width: with an empty compilation cache, then with the cache the first run left.

    scripts/bench            # widths 256 and 4096
    scripts/bench 256 1024   # other widths
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchkit import machine, save


def run_cli(width: int, cache_home: str) -> dict:
    env = dict(os.environ, XDG_CACHE_HOME=cache_home)
    cmd = [sys.executable, "-m", "ntktui", "spectrum", "--act", "sinc", "--width", str(width), "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    timings = json.loads(done.stdout)["timings"]
    return {
        "wall_s": wall,
        "startup_s": wall - timings["compile_s"] - timings["compute_s"],
        "import_s": timings["import_s"],
        "compile_s": timings["compile_s"],
        "compute_s": timings["compute_s"],
    }


def numpy_reference(width: int) -> float:
    x = np.arange(width) / width
    a = np.sinc(32.0 * (x[:, None] - x[None, :]))
    start = time.perf_counter()
    np.linalg.svd(a, compute_uv=False)
    return time.perf_counter() - start


def main(widths: list[int]) -> None:
    rows = []
    for width in widths:
        with tempfile.TemporaryDirectory() as cache_home:
            cold = run_cli(width, cache_home)
            warm = run_cli(width, cache_home)
        ref = numpy_reference(width)
        for label, r in (("empty cache", cold), ("warm cache", warm)):
            rows.append({"width": width, "cache": label, **r, "numpy_svd_s": ref,
                         "compute_vs_numpy": r["compute_s"] / ref})
    print(f"machine: {machine()}")
    head = f"{'width':>6} {'cache':<12} {'wall':>7} {'start-up':>9} {'(import)':>9} {'compile':>8} {'compute':>8} {'numpy SVD':>10} {'ratio':>6}"
    print(head)
    for r in rows:
        print(f"{r['width']:>6} {r['cache']:<12} {r['wall_s']:>6.2f}s {r['startup_s']:>8.2f}s "
              f"{r['import_s']:>8.2f}s {r['compile_s']:>7.2f}s {r['compute_s']:>7.2f}s "
              f"{r['numpy_svd_s']:>9.2f}s {r['compute_vs_numpy']:>6.2f}")
    save("spectrum_cold", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main([int(w) for w in sys.argv[1:]] or [256, 4096])
