"""Singular-value spectrum of the shallow network's Jacobian A_ij = φ(s(x_i − b_j)) (seed 003 Fig. 3)."""

from __future__ import annotations

import time

from ntktui.studies import Study
from ntktui.studies import shared


def analyse(progress, *, act, width, samples, scale, dtype):
    start = time.perf_counter()
    samples = width if samples is None else samples

    from engine import backend
    from engine.activations import get
    from engine.shallow import check_sizes, spectrum
    from ntktui.report import Report

    import_s = time.perf_counter() - start
    activations = [get(a) for a in act]
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
        "results": [shared.spectrum_json(s) for s in spectra],
        "timings": {
            "import_s": import_s,
            "compile_s": sum(s.compile_s for s in spectra),
            "compute_s": sum(s.compute_s for s in spectra),
        },
    }
    return Report(payload, spectrum_blocks(spectra))


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
        shared.spectrum_plot(spectra),
        Table("Spectrum", ["act", "s", "σ₁", ">½", ">1e-3", "σ_N/σ₁", "<floor"], rows),
        Note("[dim]>½, >1e-3: how many σ_k/σ₁ exceed ½ and 1e-3; <floor: values below the "
             "round-off floor, not shown as numbers.[/dim]"),
    ]


def memory(values: dict) -> None:
    shared.shallow_memory(values["samples"] or values["width"], values["width"], values["dtype"])


STUDY = Study(
    name="spectrum", order=10, help=__doc__, analyse=analyse, memory=memory,
    params=(shared.ACTS.with_(default=("heaviside", "relu", "sinc")), shared.WIDTH, shared.SAMPLES,
            shared.SCALE, shared.DTYPE),
)
