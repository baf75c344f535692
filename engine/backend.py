"""Device and precision handling: JAX configuration, the devices in use, memory budgets, the
round-off floor of a dtype."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_configured = False


def cache_dir() -> Path:
    """Per-user persistent compilation cache (the cache holds trusted code: never a shared /tmp)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ntktui" / "jax"


def configure() -> None:
    """Enable float64 and the compilation cache. Must run before any JAX array is created."""
    global _configured
    if _configured:
        return
    import jax

    _release_large_blocks()
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("NTK_NO_COMPILE_CACHE") != "1":
        try:
            path = cache_dir()
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            jax.config.update("jax_compilation_cache_dir", str(path))
            # Small programs compile in a fraction of a second; caching them is what makes a
            # second `ntk spectrum` start fast.
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
        except OSError:
            pass  # a read-only home only costs speed
    _configured = True


# Blocks at least this large get their own mapping from glibc's malloc (M_MMAP_THRESHOLD).
LARGE_BLOCK = 4 << 20


def _release_large_blocks() -> None:
    """Return every freed block of LARGE_BLOCK bytes or more to the system at once (glibc).

    By default glibc raises its mmap threshold as blocks are freed (up to 32 MiB) and keeps freed
    blocks under it in per-thread arenas; XLA's worker threads allocate and free many tiles and
    chunks of a few to 32 MB, so a long kernel's resident memory drifted above the arrays alive
    (4.35 GiB at the peak of `ntk kernel` at N = 10,000, whose arrays peak near 3.6 GiB) and past
    the memory estimate that admitted it. A fixed threshold keeps resident memory to what is
    alive; the fresh pages cost nothing measurable here (N = 4000 kernel: 24.2 s with it, 25.5 s
    without)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallopt"):  # glibc (musl has none)
            libc.mallopt(-3, LARGE_BLOCK)  # M_MMAP_THRESHOLD; fixing it also stops its drift
    except OSError:
        pass


# glibc's tunable that has malloc advise the kernel to back its own mappings (every block of
# LARGE_BLOCK or more, above) by transparent huge pages where the system leaves that to madvise.
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def huge_pages_environ(environ: dict) -> dict | None:
    """The environment to start this program again in so that XLA's large buffers come in 2 MiB
    pages, or None where that changes nothing (not Linux, or the tunable is already set).

    NumPy advises huge pages for its own arrays; XLA's buffers come from malloc, which by default
    does not, so each 4 KiB page of a fresh buffer costs a fault when first written: 0.6 s of
    system time per GiB measured here, several seconds of a large kernel's passes. glibc reads the
    tunable only when a process starts, hence a fresh start rather than a call."""
    import sys

    if not sys.platform.startswith("linux") or HUGE_PAGES in environ.get("GLIBC_TUNABLES", ""):
        return None
    tunables = ":".join(t for t in (environ.get("GLIBC_TUNABLES"), HUGE_PAGES) if t)
    return {**environ, "GLIBC_TUNABLES": tunables}


DTYPES = {"float64": "float64", "float32": "float32"}


def resolve_dtype(name: str):
    import jax.numpy as jnp

    if name not in DTYPES:
        from engine.errors import EngineError

        raise EngineError(f"unknown dtype {name!r}; choose one of: {', '.join(DTYPES)}")
    return jnp.dtype(name)


@dataclass(frozen=True)
class DeviceReport:
    backend: str
    devices: tuple[str, ...]
    device_kinds: tuple[str, ...]
    default_dtype: str
    x64_enabled: bool
    jax_version: str
    memory_available_bytes: int

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "devices": list(self.devices),
            "device_kinds": list(self.device_kinds),
            "default_dtype": self.default_dtype,
            "x64_enabled": self.x64_enabled,
            "jax_version": self.jax_version,
            "memory_available_bytes": self.memory_available_bytes,
        }


def device_report() -> DeviceReport:
    import jax
    import jax.numpy as jnp

    devs = jax.devices()
    return DeviceReport(
        backend=jax.default_backend(),
        devices=tuple(str(d) for d in devs),
        device_kinds=tuple(d.device_kind for d in devs),
        default_dtype=str(jnp.zeros(()).dtype),
        x64_enabled=bool(jax.config.jax_enable_x64),
        jax_version=jax.__version__,
        memory_available_bytes=available_bytes(),
    )


def default_device_name() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform}:{d.device_kind}"


def host_available_bytes() -> int:
    """MemAvailable from /proc/meminfo, else physical pages; cgroup limits respected where set."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 * 1024**3
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(limit_file).read_text().strip()
            if raw.isdigit():
                avail = min(avail, int(raw))
        except OSError:
            continue
    return int(avail)


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}


def parse_bytes(text: str, name: str = "NTK_MEMORY_BUDGET") -> int:
    """'4GiB', '512 MB', '2e9', '1.5g' → bytes; an EngineError of one line otherwise."""
    import re

    from engine.errors import EngineError

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise EngineError(f"{name}={text!r} is not a size; write it like 4GiB, 512MB or 2e9 "
                          "(bytes)")
    value = float(m.group(1)) * _UNITS[unit]
    if not value >= 1:
        raise EngineError(f"{name}={text!r} must be at least 1 byte")
    return int(value)


def available_bytes() -> int:
    """Memory the first device can still allocate: the GPU's free memory, or the host's, or the
    budget NTK_MEMORY_BUDGET sets (4GiB, 512MB, 2e9: bytes)."""
    override = os.environ.get("NTK_MEMORY_BUDGET")
    if override is not None:
        return parse_bytes(override)
    import jax

    dev = jax.devices()[0]
    if dev.platform != "cpu":
        try:
            stats = dev.memory_stats() or {}
            limit = stats.get("bytes_limit")
            if limit:
                return int(limit - stats.get("bytes_in_use", 0))
        except Exception:  # memory_stats is backend-specific; fall back to the host figure
            pass
    return host_available_bytes()


def roundoff_floor(dimension: int, scale, dtype) -> float:
    """dimension·ε·|scale| (docs/maths.md#the-round-off-floor): a computed eigenvalue or singular
    value below it is round-off of a matrix of that dimension whose largest one is `scale`.
    The arithmetic follows `scale`'s type: a float32 singular value gives a float32 product."""
    import jax.numpy as jnp

    return float(dimension * float(jnp.finfo(dtype).eps) * abs(scale))


def check_fits(what: str, needed: int, fits: "Callable[[int], str] | None" = None) -> None:
    """Refuse a request before allocating when its matrices would not fit. `fits(available)`
    says what would (e.g. "; up to N = 38,000 fits"), appended to the message."""
    from engine.errors import InsufficientMemory

    available = available_bytes()
    if needed > available:
        raise InsufficientMemory(what, needed, available, fits(available) if fits else "")
