"""Scale of the layer-wise empirical NTK (issue 3): N = 10,000 samples through seed 000's network
with n₁ = 80,000 (64 M parameters; the Jacobian alone would be 10,000 × 64 M × 8 B = 5 TB in
float64), float64, λ_min with its round-off floor, under a 4 GiB memory budget.

The run is a fresh `ntk kernel` process with NTK_MEMORY_BUDGET set, so the chunk is the one the
tool itself picks for that budget; peak memory is the child's maximum resident set size
(getrusage), which includes the interpreter, JAX and the eigensolver's copy.

    scripts/bench scale                          # N = 10,000, n₁ = 80,000, 4 GiB
    scripts/bench scale --samples 2000 --n1 16000
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--n1", type=int, default=80_000)
    ap.add_argument("--act", default="cos")
    ap.add_argument("--budget-gib", type=float, default=4.0)
    args = ap.parse_args(argv)
    env = dict(os.environ, NTK_MEMORY_BUDGET=str(int(args.budget_gib * 1024**3)))
    cmd = [sys.executable, "-m", "ntktui", "kernel", "--act", args.act, "--samples", str(args.samples),
           "--n0", "400", "--hidden", f"{args.n1},400", "--dtype", "float64", "--json"]
    print("running:", " ".join(cmd[2:]), f"(NTK_MEMORY_BUDGET={args.budget_gib:g} GiB)", flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux reports KiB
    if done.returncode != 0:
        print(done.stderr.strip())
        raise SystemExit(done.returncode)
    r = json.loads(done.stdout)
    row = {
        "samples": r["samples"], "parameters": r["parameters"], "widths": r["widths"],
        "activation": r["activation"], "dtype": r["dtype"], "device": r["device"],
        "chunk": r["chunk"], "streamed_layers": r["streamed_layers"],
        "lambda_min": r["lambda_min"], "lambda_max": r["lambda_max"], "condition": r["condition"],
        "below_floor": r["below_floor"], "floor": r["floor"],
        "estimate_gib": r["memory_bytes"] / 1024**3, "peak_rss_gib": peak / 1024**3,
        "budget_gib": args.budget_gib, "compile_s": r["timings"]["compile_s"],
        "compute_s": r["timings"]["compute_s"], "wall_s": wall,
        "jacobian_tb": r["samples"] * r["parameters"] * 8 / 1e12,
        "machine": machine(),
    }
    for key, value in row.items():
        print(f"{key:>16}: {value}")
    save("ntk_scale", row)


if __name__ == "__main__":
    main()
