"""What every benchmark shares: the machine it ran on, best-of timing, and saving its results
under benchmarks/results/ (each benchmark is run as a script, so this folder is on its path)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """Architecture, cores, Python, the load average now and, when JAX is already imported (a
    benchmark of cold starts must not import it), JAX's version and devices."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"{platform.machine()} · {os.cpu_count()} cores · {platform.python_implementation()} "
            f"{platform.python_version()}")
    jax = sys.modules.get("jax")
    if jax is not None:
        d = jax.devices()[0]
        text += (f" · JAX {jax.__version__} · {d.platform}:{d.device_kind} × "
                 f"{len(jax.devices())}")
    return f"{text} · load {load:.1f}"


def best_of(fn, repeats: int = 3) -> float:
    """The shortest of `repeats` timed calls of fn, waiting for JAX's asynchronous results."""
    import jax

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def save(name: str, payload, default=None) -> Path:
    """Write payload as benchmarks/results/NAME_YYYYMMDD-HHMMSS.json and say where (default: as
    json.dumps's, for values JSON cannot hold)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, default=default, indent=1))
    print(f"saved {path}")
    return path
