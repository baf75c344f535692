"""Empirical NTK of a deep MLP: λ_min, λ_max, condition number and the eigenvalue spectrum.

The kernel is computed layer by layer (SPEC §5), never forming the Jacobian; layers wider than
the chunk stream through memory and are spread over every local device. A λ_min below the
round-off floor N·ε·λ_max is reported as "below floor", not as a number. Inputs: --data FILE or
synthetic Gaussian rows of norm √n0.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ntktui import options
from ntktui.errors import UserError

NAME = "kernel"

Out = Annotated[Optional[str], typer.Option("--out", help="Save the kernel matrix to FILE.npy.")]


def run(
    act: options.Act = "relu",
    hidden: options.Hidden = "512,512",
    data: options.Data = None,
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", help="Synthetic samples N (default 100).")] = None,
    n0: options.N0 = None,
    scale: options.ActScale = 1.0,
    param: options.Param = "ntk",
    sigma_w: options.SigmaW = 1.0,
    sigma_b: options.SigmaB = 0.0,
    seed: options.Seed = 0,
    dtype: options.Dtype = "float64",
    chunk: options.Chunk = None,
    out: Out = None,
    json: options.Json = False,
    plot_width: options.PlotWidth = None,
):
    from ntktui import data as datasets

    if out is not None and not out.endswith(".npy"):
        raise UserError(f"--out must name a .npy file, got {out!r}")
    pts = datasets.points(data, samples, n0, seed, default_samples=100, default_n0=10)
    x = pts.values
    widths = [x.shape[1], *options.parse_widths(hidden, x.shape[0]), 1]

    from engine import backend
    from engine.mlp import MLPSpec
    from engine.ntk import empirical_kernel

    spec = MLPSpec(tuple(widths), act, scale, param, sigma_w, sigma_b)
    result = empirical_kernel(spec, x, seed=seed, dtype=backend.resolve_dtype(dtype), chunk=chunk,
                              keep_matrix=out is not None)
    if out is not None:
        _save(out, result.matrix)
    payload = result_json(result, pts.description)
    if json:
        from ntktui.output import emit_json

        emit_json(payload)
        return
    show_kernel(result, pts.description, plot_width, out)


def _save(path: str, matrix) -> None:
    import numpy as np

    try:
        np.save(path, matrix)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def result_json(result, description: str) -> dict:
    from engine import backend

    s = result.spectrum
    ev = s.eigenvalues
    return {
        **s.as_dict(),
        "samples": result.samples,
        "parameters": result.spec.parameter_count,
        "dtype": result.dtype,
        "device": backend.default_device_name(),
        "devices": result.plan.devices,
        "activation": result.spec.act.name,
        "scale": result.spec.scale,
        "widths": list(result.spec.widths),
        "param": result.spec.param,
        "sigma_w": result.spec.sigma_w,
        "sigma_b": result.spec.sigma_b,
        "data": description,
        "chunk": result.plan.chunk,
        "streamed_layers": result.plan.streamed_layers,
        "memory_bytes": result.memory_estimate,
        # ascending; values at or below the floor are noise and appear as null
        "eigenvalues": [float(v) if v > s.floor else None for v in ev],
        "timings": {"compile_s": result.compile_s, "compute_s": result.compute_s},
    }


def eigen_plot(spectrum, title: str):
    import numpy as np

    from ntktui.render import Plot, Series

    ev = spectrum.eigenvalues[::-1]
    keep = ev > spectrum.floor
    k = np.arange(1, ev.size + 1)
    # The floor line is drawn only where it matters: it would squash a well-resolved spectrum.
    near = spectrum.below_floor or spectrum.floor > 1e-3 * spectrum.eigenvalues[0]
    return Plot(title=title, xlabel="k", ylabel="λ_k", log_y=True,
                series=[Series("eigenvalues", k[keep], ev[keep])],
                hlines=[(spectrum.floor, "round-off floor")] if near and spectrum.floor > 0 else [])


def show_kernel(result, description: str, plot_width=None, out=None):
    from engine import backend
    from engine.errors import format_bytes
    from ntktui.output import show, table
    from ntktui.render import render

    s = result.spectrum
    spec = result.spec
    rows = [
        ("network", f"{spec.act.name} s={spec.scale:g}, widths {list(spec.widths)}, {spec.param}, "
                    f"σ_w={spec.sigma_w:g}, σ_b={spec.sigma_b:g}"),
        ("data", description),
        ("parameters", spec.parameter_count),
        ("λ_min", "below floor" if s.below_floor else s.lambda_min),
        ("λ_max", s.lambda_max),
        ("condition κ", "—  (λ_min below floor)" if s.below_floor else s.condition),
        ("round-off floor", s.floor),
        ("dtype / device", f"{result.dtype} / {backend.default_device_name()} × {result.plan.devices}"),
        ("chunk", f"{result.plan.chunk} (streamed layers: {result.plan.streamed_layers or 'none'})"),
        ("memory", format_bytes(result.memory_estimate)),
        ("compile / compute", f"{result.compile_s:.2f} s / {result.compute_s:.2f} s"),
    ]
    blocks = [render(eigen_plot(s, f"NTK eigenvalues, largest first (N={result.samples})"),
                     width=plot_width),
              table("Empirical NTK", ["", "value"], rows)]
    if out:
        blocks.append(f"[dim]kernel saved to {out}[/dim]")
    show(*blocks)
