"""Singular-value spectrum of the shallow network's Jacobian A_ij = φ(s(x_i − b_j)) (seed 003 Fig. 3)."""

from __future__ import annotations

import sys
import time

from ntktui import options

NAME = "spectrum"
DEFAULT_ACTS = ("heaviside", "relu", "sinc")


def run(
    act: options.Acts = None,
    width: options.Width = 256,
    samples: options.Samples = None,
    scale: options.Scale = 32.0,
    dtype: options.Dtype = "float64",
    json: options.Json = False,
    plot_width: options.PlotWidth = None,
):
    from ntktui.output import deliver

    deliver(sys.modules[__name__], locals(), json, plot_width)


def analyse(progress, *, act, width, samples, scale, dtype):
    start = time.perf_counter()
    acts = list(act or DEFAULT_ACTS)
    samples = width if samples is None else samples
    options.check_finite(scale, "--scale")

    from engine import backend
    from engine.activations import get
    from engine.shallow import check_sizes, spectrum
    from ntktui.report import Report

    import_s = time.perf_counter() - start
    activations = [get(a) for a in acts]  # validate every name before computing anything
    dt = backend.resolve_dtype(dtype)
    check_sizes(samples, width, dt)

    spectra = []
    progress.begin("spectra", len(activations))
    for a in activations:
        spectra.append(spectrum(a, samples, width, scale, dt))
        progress.step()
    payload = {
        "samples": samples,
        "width": width,
        "dtype": dt.name,
        "device": backend.default_device_name(),
        "results": [result_json(s) for s in spectra],
        "timings": {
            "import_s": import_s,
            "compile_s": sum(s.compile_s for s in spectra),
            "compute_s": sum(s.compute_s for s in spectra),
        },
    }
    return Report(payload, spectrum_blocks(spectra))


def result_json(s) -> dict:
    """σ and σ/σ₁ with values below the round-off floor as null (they are noise, not results)."""
    from ntktui.output import resolved_list

    resolved = s.resolved
    return {
        "activation": s.activation,
        "scale": s.scale,
        "singular_values": resolved_list(s.singular_values, resolved),
        "normalized": resolved_list(s.normalized, resolved),
        "floor": s.floor,
        "below_floor": int((~resolved).sum()),
    }


def spectrum_plot(spectra):
    import numpy as np

    from ntktui.render import Plot, Series

    series = []
    for s in spectra:
        keep = s.resolved
        k = np.arange(1, s.singular_values.size + 1)[keep]
        series.append(Series(f"{s.activation} s={s.scale:g}", k, s.normalized[keep]))
    floor = min(s.floor / s.singular_values[0] for s in spectra)
    return Plot(
        title=f"Normalised singular values σ_k/σ₁  (N={spectra[0].samples}, M={spectra[0].width})",
        xlabel="k", ylabel="σ_k/σ₁", series=series, log_y=True,
        hlines=[(floor, "round-off floor")] if any((~s.resolved).any() for s in spectra) else [],
    )


def spectrum_blocks(spectra) -> list:
    import numpy as np

    from ntktui.report import Note, Table

    rows = []
    for s in spectra:
        n = s.normalized
        last = "below floor" if not s.resolved[-1] else n[-1]
        rows.append((s.activation, s.scale, s.singular_values[0], int((n > 0.5).sum()),
                     int(np.searchsorted(-n, -1e-3)), last, int((~s.resolved).sum())))
    return [
        spectrum_plot(spectra),
        Table("Spectrum", ["act", "s", "σ₁", ">½", ">1e-3", "σ_N/σ₁", "<floor"], rows),
        Note("[dim]>½, >1e-3: how many σ_k/σ₁ exceed ½ and 1e-3; <floor: values below the "
             "round-off floor, not shown as numbers.[/dim]"),
    ]
