"""Two local processes against one (engine.distributed, `ntk launch`), on this machine.

For the empirical kernel (width split: the chunks of the wide layers over both processes, the
N × N partial kernels summed by an all-reduce) and the matrix-free spectrum (products whose
samples are split, Jᵀ V all-reduced, K V gathered), the same command with one process and with
`ntk launch -n 2`: wall time of the whole command and the compute time its JSON reports. The
communication share is the time of the collectives the two-process run makes, measured alone in
the same two processes (an all-reduce of an N × N float64 matrix, one per streamed layer), over
the two-process compute time. On a 2-core machine two processes cannot be faster than one
(each already uses both cores); the point is the price of the distributed path.

    /work/main/.venv/bin/python benchmarks/distributed.py            # N = 400, width 2048
    /work/main/.venv/bin/python benchmarks/distributed.py --samples 800
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import machine  # noqa: E402


def _run(argv: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ntktui", *argv, "--json"], env=env,
                       capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(r.stdout)


def _allreduce_child(samples: int, repeats: int) -> None:
    """In each of two processes: the time of one all-reduce of an N × N float64 matrix."""
    import numpy as np

    from engine import distributed

    distributed.start(distributed.request())
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    mesh = jax.make_mesh((jax.device_count(),), ("d",))
    local = np.ones((1, samples, samples))
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("d")), local)
    total = jax.jit(lambda a: a.sum(0), out_shardings=NamedSharding(mesh, P()))
    total(x).block_until_ready()  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        total(x).block_until_ready()
        times.append(time.perf_counter() - start)
    if distributed.is_main():
        print(json.dumps({"allreduce_s": min(times)}))
    distributed.current().finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--child-allreduce", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_allreduce is not None:
        _allreduce_child(args.child_allreduce, 5)
        return
    N, w = args.samples, args.width
    kernel = ["kernel", "--samples", str(N), "--hidden", f"{w},{w}", "--chunk", str(args.chunk)]
    mf = ["kernel", "--samples", str(4 * N), "--hidden", "256,256", "--matrix-free", "--top", "5"]
    rows = []
    for name, argv in (("empirical, width split", [*kernel, "--split", "width"]),
                       ("empirical, rows split", [*kernel, "--split", "rows"]),
                       ("matrix-free top 5", mf)):
        one_wall, one = _run([a for a in argv if a not in ("--split", "width", "rows")])
        two_wall, two = _run(["launch", "-n", "2", "--", *argv])
        t = lambda d: d["timings"].get("compute_s", d["timings"].get("kernel_s"))  # noqa: E731
        rows.append({"case": name, "one_wall_s": one_wall, "two_wall_s": two_wall,
                     "one_compute_s": t(one), "two_compute_s": t(two),
                     "streamed_layers": two.get("streamed_layers")})
    allreduce = _launch_allreduce(N)
    width = rows[0]
    layers = len(width["streamed_layers"] or [])
    share = allreduce * max(layers, 1) / width["two_compute_s"]
    print(f"machine: {machine()}; N = {N}, hidden {w},{w}, chunk {args.chunk}")
    print(f"{'case':28s} {'1 proc wall':>12s} {'2 proc wall':>12s} {'1 compute':>10s} "
          f"{'2 compute':>10s}")
    for r in rows:
        print(f"{r['case']:28s} {r['one_wall_s']:12.2f} {r['two_wall_s']:12.2f} "
              f"{r['one_compute_s']:10.2f} {r['two_compute_s']:10.2f}")
    print(f"all-reduce of the {N} × {N} kernel between the 2 processes: {allreduce * 1e3:.1f} ms "
          f"× {max(layers, 1)} streamed layer(s) = {100 * share:.1f} % of the width split's "
          "compute time")


def _launch_allreduce(samples: int) -> float:
    """Start two processes of this file's all-reduce child (ntk launch's environment)."""
    from ntktui.commands.launch import environment, free_port

    port = free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--child-allreduce", str(samples)],
                              env={**environment(i, 2, port), "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, text=True) for i in range(2)]
    out = [p.communicate()[0] for p in procs]
    return json.loads(out[0])["allreduce_s"]


if __name__ == "__main__":
    main()
