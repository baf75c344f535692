"""Where a result comes from: which ntk, JAX, backend and devices, which command, when. Light
(no numpy, no JAX import), so `ntk presets --json` can state it too."""

from __future__ import annotations

# The command line being run, for provenance (set by the CLI; the dashboard passes its own).
INVOCATION: str | None = None


def provenance(command: str | None = None) -> dict:
    """Which ntk, JAX, backend and devices produced a result, from which command, when (UTC)."""
    import platform
    import sys as _sys
    from datetime import datetime, timezone
    from importlib.metadata import PackageNotFoundError, version

    from ntktui import __version__

    try:
        jax_version = version("jax")
    except PackageNotFoundError:
        jax_version = None
    out = {"ntk": __version__, "jax": jax_version, "python": platform.python_version(),
           "machine": platform.machine(), "backend": None, "devices": None,
           "command": command or INVOCATION,
           "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if "jax" in _sys.modules:  # a result computed with JAX: name the devices it ran on
        import jax

        out["backend"] = jax.default_backend()
        out["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    return out
