"""The JAX backend and devices in use, the default dtype, whether float64 is on, and the memory the
first device can still allocate (the budget requests are checked against)."""

from __future__ import annotations

from ntktui.commands import Json

NAME = "devices"


def run(json: Json = False):
    from engine import backend

    backend.configure()  # the report must show the configuration every command runs with
    report = backend.device_report().as_dict()
    if json:
        from ntktui.output import emit_json

        from ntktui.provenance import provenance

        emit_json({**report, "provenance": provenance()})
        return
    from engine.errors import format_bytes
    from ntktui.output import show, table

    rows = [
        ("backend", report["backend"]),
        ("devices", ", ".join(report["devices"])),
        ("device kinds", ", ".join(sorted(set(report["device_kinds"])))),
        ("default dtype", report["default_dtype"]),
        ("float64 (x64) enabled", report["x64_enabled"]),
        ("jax version", report["jax_version"]),
        ("memory available", format_bytes(report["memory_available_bytes"])),
    ]
    show(*table("JAX devices", ["property", "value"], rows))
