"""What several analyses share: their common parameters (declared once, each study takes them as
they are or with its own default and help) and helpers used by more than one study (the spectrum
of the shallow Jacobian as JSON and as a plot; κ of the infinite-width NTK by depth and its plot
and table). Light at import: the engine is imported inside the functions."""

from __future__ import annotations

import math
import time

from ntktui.errors import UserError
from ntktui.params import FLOAT, INT, INTS, NAMES, TEXT, Param, check_widths

# ---------------------------------------------------------------------------------------------
# Checks that need the engine (run when a run is prepared, not when a preset file is listed)


def readable_file(path: str, p: Param) -> None:
    """An existing, readable, non-empty file (not a directory)."""
    from ntktui.data import check_file

    try:
        check_file(path)
    except UserError as exc:
        raise UserError(f"{p.flag}: {exc}", field=p.name) from None


def writable_file(path: str, p: Param) -> None:
    """A file the run can write: not a directory, in an existing, writable folder (checked
    before any work, so a long run never ends by failing to save)."""
    import os
    from pathlib import Path

    target = Path(path).expanduser()
    if target.is_dir():
        raise p.error(f"{path} is a directory; name a file")
    folder = target.parent
    if not folder.is_dir():
        raise p.error(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise p.error(f"{path}: cannot write there (permission denied)")


def known_activations(names, p: Param) -> None:
    """Every name is in the activation registry (reluK and abrelu(a,b) included)."""
    from engine.activations import get
    from engine.errors import EngineError

    for name in (names,) if isinstance(names, str) else names:
        try:
            get(name)
        except EngineError as exc:
            raise p.error(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Parameters

ACT_NAMES = ("heaviside, sign, tanh, relu, reluK, gelu, silu, sinc, gaussian, cos, sin, abs, linear, "
             "abrelu(a,b), erf")
ACTS = Param("act", NAMES, help=f"Activation (repeatable): {ACT_NAMES}.", flags=("--act", "-a"),
             repeat=True, lookup=known_activations)
ACT = Param("act", TEXT, "relu", help="Activation (see `ntk spectrum --help`).",
            flags=("--act", "-a"), lookup=known_activations)
DTYPE = Param("dtype", TEXT, "float64", help="float64 (default) or float32.",
              choices=("float64", "float32"))

# The shallow network of seed 003: width M, samples N (default M) and the activation scale s.
WIDTH = Param("width", INT, 256, help="Network width M (number of biases).", flags=("--width", "-m"),
              lo=1)
SAMPLES = Param("samples", INT, None, help="Samples N (default: M).", flags=("--samples", "-n"),
                lo=1, default_text="M")
SCALE = Param("scale", FLOAT, 32.0, help="Activation scale s: φ(s·t).", flags=("--scale", "-s"))

# The deep networks of the NTK studies.
HIDDEN = Param("hidden", TEXT, None, help="Hidden widths, e.g. 512,512; a width may be a multiple "
               "of the sample count: 8N,400. Output width 1.", check=check_widths)
PARAM = Param("param", TEXT, "ntk", help="Parameterisation: ntk, standard or unscaled.",
              choices=("ntk", "standard", "unscaled"))
SIGMA_W = Param("sigma_w", FLOAT, 1.0, help="Weight scale σ_w (β for unscaled).", lo=0,
                lo_open=True)
SIGMA_B = Param("sigma_b", FLOAT, 0.0, help="Bias scale σ_b; 0 means no bias.", lo=0)
SEED = Param("seed", INT, 0, help="Seed of the initialisation and synthetic data.", lo=0,
             hi=2**63 - 1)
CHUNK = Param("chunk", INT, None, help="Neurons per chunk of a wide layer (default: the largest "
              "that fits in memory).", lo=1, default_text="the largest that fits")
N0 = Param("n0", INT, None, help="Input dimension of synthetic data.", lo=1)
DATA = Param("data", TEXT, None, help="Inputs from an N × n0 .npy or .csv file instead of "
             "synthetic rows.", unit="file", lookup=readable_file)
# The number of points of a data set (--data aside); the depth and kernel studies default to 100.
DATA_SAMPLES = Param("samples", INT, None, help="Samples N (default 100).",
                     flags=("--samples", "-n"), lo=1, default_text="100")
DATASETS = ("sphere", "clustered", "digits")
DATASET = Param("dataset", TEXT, None, help="A named data set instead of --data: sphere "
                "(synthetic, the default), clustered, or digits (scikit-learn's 8×8 handwritten "
                "digits, first N rows, offline).", choices=DATASETS, default_text="sphere")
ACT_SCALE = Param("scale", FLOAT, 1.0, help="Activation frequency s: φ(s·t).",
                  flags=("--scale", "-s"))
MAX_DEPTH = 1000  # weight layers; deeper networks are far past every kernel's deep limit
DEPTHS = Param("depth", INTS, tuple(range(1, 31)), help="Depths L (weight layers): a list 1,2,5 "
               "or a range 1:30 or 1:30:2.", flags=("--depth", "-L"), lo=1, hi=MAX_DEPTH)
# Above ~1000 nodes Gauss–Hermite weights underflow double precision: more is not more accurate.
ORDER = Param("order", INT, 64, help="Gauss–Hermite order for activations without a closed form.",
              lo=2, hi=1000)
# The quadrature's relative error target (of the deepest NTK): the order doubles until its bound
# meets it (docs/maths.md#quadrature-error-bounds).
TOLERANCE = Param("tolerance", FLOAT, None, help="Relative quadrature error of the NTK to reach "
                  "by raising --order (up to 256); reported as not met where it cannot be.",
                  lo=0, lo_open=True, hi=1, default_text="none: --order as given")
# σ_w of the depth studies defaults to the edge of chaos.
SIGMA_W_EOC = Param("sigma_w", FLOAT, None, help="Weight scale σ_w (default: the edge of chaos for "
                    "relu/abs/linear/abrelu, else 1).", lo=0, lo_open=True,
                    default_text="the edge of chaos")


def network_setting(param: str, scale: float, sigma_w: float, sigma_b: float, seed: int) -> dict:
    """How a sampled network was drawn, as the sweeps' JSON states it."""
    return {"param": param, "scale": scale, "sigma_w": sigma_w, "sigma_b": sigma_b, "seed": seed}


# ---------------------------------------------------------------------------------------------
# Progress from the engine: kernels call progress(done, total) after each tile


def kernel_progress(progress, label: str):
    """The engine's progress(done, total) as this study's bar: `label` over the kernel's steps,
    advanced per tile (and a cancel raised between tiles)."""
    last = [0]

    def report(done: int, total: int) -> None:
        if done == 0:
            progress.begin(label, total)
            last[0] = 0
            return
        progress.step(done - last[0])
        last[0] = done

    return report


def cancel_between_tiles(progress):
    """For a study with its own bar (one step per kernel): the engine's progress callback that
    only gives the dashboard's cancel (raised at progress.step) a chance between tiles."""
    return lambda done, total: progress.step(0)


# ---------------------------------------------------------------------------------------------
# Memory: each study's `memory(values)` refuses a run from its sizes alone, before any work


def shallow_memory(samples: int, width: int, dtype: str = "float64", vectors: bool = False) -> None:
    """The N × M Jacobian of the shallow network and its SVD."""
    from engine import backend
    from engine.shallow import check_sizes

    check_sizes(samples, width, backend.resolve_dtype(dtype), vectors)


def empirical_memory(widths, activation: str, scale: float, param: str, sigma_w: float,
                     sigma_b: float, samples: int, dtype: str = "float64",
                     chunk: int | None = None) -> None:
    """The empirical NTK of N samples through these widths, with a chunk that fits (or none)."""
    from engine import backend
    from engine.mlp import MLPSpec
    from engine.ntk import choose_plan

    spec = MLPSpec(tuple(widths), activation, scale, param, sigma_w, sigma_b)
    choose_plan(spec, samples, backend.resolve_dtype(dtype), chunk)


def resolve_split(width_check) -> str:
    """Across several processes, how a dense layer-wise kernel is shared: --split as given, or
    (auto) width when `width_check()` (the width split's memory check) passes on every process,
    else rows. The choice is the same on every process (one collective); "none" for one."""
    from engine import distributed
    from engine.errors import InsufficientMemory

    session = distributed.current()
    if not distributed.active():
        return "none"
    if session.split == "auto":
        try:
            width_check()
            fits = True
        except InsufficientMemory:
            fits = False
        session.split = "width" if distributed.all_true(fits) else "rows"
    return session.split


def rows_memory(samples: int, dtype: str = "float64", k: int = 1) -> None:
    """This process's share of a kernel whose rows are split over the processes (process 0 also
    holds the gathered kernel and its eigensolver's copy); the engine checks computing the rows."""
    from engine import backend, distributed

    size = samples * k
    backend.check_fits(f"process {distributed.process_index()}'s share of the {size:,} × {size:,} "
                       "kernel", distributed.rows_memory_need(size, backend.resolve_dtype(dtype)
                                                              .itemsize),
                       lambda available: "; use --matrix-free or more processes")


def infinite_memory(samples: int, activation: str, order: int,
                    tolerance: float | None = None) -> None:
    """The infinite-width kernels of N inputs (and a quadrature tile, of the largest order a
    tolerance may raise it to)."""
    from engine import backend
    from engine import infinite as inf
    from engine.activations import get

    if tolerance is not None:
        order = max(order, inf.MAX_ADAPTIVE_ORDER)
    backend.check_fits(f"the infinite-width kernels of {samples} inputs",
                       inf.memory_bytes(samples, get(activation), order=order),
                       lambda available: f"; about N ≤ {math.isqrt(available // 48):,} fits")


def data_memory(samples: int, n0: int, copies: int = 3) -> None:
    """An N × n0 float64 data set being made (and copied to the device)."""
    from engine import backend

    backend.check_fits(f"{samples:,} points of dimension {n0:,}", copies * 8 * samples * n0,
                       lambda available: f"; about {available // (copies * 8 * n0):,} points fit")


# ---------------------------------------------------------------------------------------------
# The spectrum of the shallow Jacobian (spectrum, mask)


def spectrum_json(s) -> dict:
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


# ---------------------------------------------------------------------------------------------
# κ of the NTK against depth (condition, eoc, separation)

DEFAULT_SAMPLES, DEFAULT_N0 = 100, 100  # the depth studies' data: points on the sphere


def check_data_options(values: dict) -> None:
    """A data file, a named data set or synthetic sizes: one of them."""
    if values["data"] is not None:
        if values.get("dataset") is not None:
            raise UserError("give either --data or --dataset, not both")
        if values.get("samples") is not None or values.get("n0") is not None:
            raise UserError("give either --data or --samples/--n0, not both")


def eoc_sigma_w(act, scale: float = 1.0) -> float | None:
    """σ_w at the edge of chaos (σ_b = 0) for relu and abrelu(a, b) (abs, linear), else None."""
    from engine import infinite as inf
    from engine.errors import EngineError

    try:
        a, b = inf.abrelu_params(act, scale)
        return math.sqrt(inf.eoc_sigma_w2(a, b))
    except EngineError:
        return None


def network(name: str, scale: float, sigma_w: float | None, sigma_b: float):
    """(activation, σ_w) with σ_w defaulting to the edge of chaos; refuses activations without
    an NTK (heaviside) with the registry's one-line message."""
    from engine.activations import get

    a = get(name)
    a.require_derivative()  # "no NTK" (heaviside), before anything is computed
    if sigma_w is None:
        sigma_w = eoc_sigma_w(a, scale) or 1.0
    return a, sigma_w


def infinite_conditions(x, act, depths, sigma_w, sigma_b, scale, order, timings,
                        tolerance: float | None = None, between=None) -> dict:
    """κ of Θ^L at the listed depths, in one pass over the layers; `between(done, total)` is
    called after each tile."""
    from engine import infinite as inf

    opts = dict(sigma_w2=sigma_w**2, sigma_b2=sigma_b**2, scale=scale, order=order)
    start = time.perf_counter()
    compile_s = inf.compile_layers(x, act, max(depths), **opts) if tolerance is None else 0.0
    wanted, conds, err = set(depths), [], None
    for layer in inf.layers(x, act, max(depths), tolerance=tolerance, progress=between, **opts):
        if layer.error is not None:
            err = layer.error
        if layer.depth in wanted:
            conds.append(inf.condition(layer.ntk))
    timings["compile_s"] += compile_s
    timings["compute_s"] += time.perf_counter() - start - compile_s
    return {
        **condition_lists(depths, [(c.kappa, c.lam_min, c.lam_max) for c in conds]),
        "method": "closed form" if inf.has_closed_form(act) else "quadrature",
        # the deepest layer's NTK error bound relative to its λ_max (None: unresolved)
        "quadrature_error": None if err is None or err.ntk_abs is None
        else err.ntk_abs / conds[-1].lam_max,
        **({} if err is None else {"quadrature_resolved": err.resolved,
                                   "quadrature_order": err.order,
                                   "tolerance_met": err.tolerance_met})}


def condition_lists(depths, rows) -> dict:
    """(κ, λ_min, λ_max) per depth as JSON lists; κ and λ_min are None below the floor."""
    return {"depth": list(depths), "condition": [k for k, _, _ in rows],
            "below_floor": [k is None for k, _, _ in rows],
            "lambda_min": [m for _, m, _ in rows], "lambda_max": [M for _, _, M in rows]}


def condition_plot(results, title: str, gram: float | None = None, limit: float | None = None):
    from ntktui.render import Plot, Series

    series = []
    for r in results:
        kept = [(d, k) for d, k in zip(r["depth"], r["condition"]) if k is not None]
        if kept:
            series.append(Series(r.get("label", r["activation"]), [d for d, _ in kept],
                                 [k for _, k in kept], scatter=len(kept) == 1))
    hlines = [(gram, "Gram matrix XXᵀ")] if gram else []
    if limit:
        hlines.append((limit, "deep limit"))
    return Plot(title, "depth L", "κ", series, log_y=True, hlines=hlines) if series else None


def condition_table(results, title: str):
    """Depth by network; a network still being computed (a partial report) has its missing
    depths as None ("—")."""
    from ntktui.report import Table

    depths = max((r["depth"] for r in results), key=len) if results else []
    rows = []
    for i, d in enumerate(depths):
        rows.append((d, *(None if i >= len(r["condition"]) else
                          "below floor" if r["condition"][i] is None else r["condition"][i]
                          for r in results)))
    return Table(title, ["depth L", *(r.get("label", r["activation"]) for r in results)], rows)
