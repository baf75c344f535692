"""Input data sets (N × n₀ matrices) for the kernel commands: a .npy/.csv file, a named data set
or synthetic rows.

Loading lives in the front end so that the engine stays pure numerics; every failure is a
UserError with a one-line message. Synthetic data are Gaussian rows rescaled to norm √n₀
(seed 000's setting), drawn by `engine.data.sphere_points` from a seed: the same as points
uniform on the sphere of radius √n₀ ("sphere").

Named data sets (--dataset): "sphere" (the synthetic rows above), "clustered" (10 groups of
points around random centres, spread 0.1, on the same sphere: near-duplicates make the Gram
matrix ill-conditioned) and "digits", a real data set available offline: scikit-learn's
handwritten digits (1797 images of 8 × 8 pixels, bundled in its wheel, loaded lazily). Digits
take the first N rows (--samples; the set is stored with its classes cycling 0–9, so the first
rows cover every class) and each row is scaled to norm √64 = 8, like the synthetic rows, so
Σ¹'s diagonal is σ_w² + σ_b² and ρ is the cosine between images. Per-pixel standardisation is
not used: some pixels are 0 in every image (zero variance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntktui.errors import UserError


@dataclass(frozen=True)
class Points:
    values: np.ndarray  # N × n₀, float64
    description: str


def check_file(path: str, what: str = "file") -> Path:
    """An existing, readable, non-empty regular file; one-line UserErrors otherwise."""
    import os

    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"{path} is a directory, not a {what}")
    if not p.exists():
        raise UserError(f"no such file: {path}")
    if not p.is_file():
        raise UserError(f"{path} is not a regular file")
    if not os.access(p, os.R_OK):
        raise UserError(f"{path} cannot be read (permission denied)")
    if p.stat().st_size == 0:
        raise UserError(f"{path} is empty")
    return p


def _npy_header(path: Path):
    """(shape, dtype) from a .npy file's header, without reading its data."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return shape, dtype


def number_shape(path: str) -> tuple[int, ...]:
    """The shape a number file holds, read from its header (.npy) or by counting its lines and
    the fields of its first line (text), without loading it: memory is checked on it first."""
    p = check_file(path)
    try:
        if p.suffix.lower() == ".npy":
            return tuple(int(n) for n in _npy_header(p)[0])
        rows, fields = 0, 0
        with open(p, "rb") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith(b"#"):
                    if rows == 0:
                        fields = len(line.replace(b",", b" ").split())
                    rows += 1
        return (rows, fields) if fields > 1 else (rows,)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read numbers from {path}: {' '.join(str(exc).split())}") from None


def read_numbers(path: str, ndmin: int = 1) -> np.ndarray:
    """A float64 array from .npy or text (.csv/.txt, commas or whitespace, # comments); one-line
    errors for a directory, an empty file, a header line, complex or non-numeric data."""
    p = check_file(path)
    try:
        if p.suffix.lower() == ".npy":
            dtype = _npy_header(p)[1]
            if dtype.kind == "c":
                raise UserError(f"{path} holds complex numbers; ntk needs real ones (save the "
                                "real part, or the absolute values, explicitly)")
            if dtype.kind not in "biuf":
                raise UserError(f"{path} holds {dtype} values, not numbers")
            raw = np.load(p, allow_pickle=False)
        else:
            raw = _read_text(p, path, ndmin)
        return np.asarray(raw, dtype=np.float64)
    except UserError:
        raise
    except Exception as exc:  # np.load raises ValueError, OSError, TypeError, ...
        raise UserError(f"cannot read numbers from {path}: {' '.join(str(exc).split())}") from None


def _read_text(p: Path, path: str, ndmin: int) -> np.ndarray:
    lines = [line.split("#", 1)[0].replace(",", " ")
             for line in p.read_text(encoding="utf-8", errors="replace").splitlines()]
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise UserError(f"{path} holds no numbers")
    rows = []
    for i, line in numbered:
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError:
            token = next(v for v in line.split() if not _is_float(v))
            kind = "complex numbers" if _is_complex(token) else f"{token!r}"
            header = " (a header? remove it or start it with #)" if i == numbered[0][0] else ""
            raise UserError(f"{path}, line {i}: {kind} is not a real number{header}") from None
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise UserError(f"{path}: rows have different numbers of values ({sorted(widths)})")
    return np.array(rows, dtype=np.float64) if ndmin >= 2 or widths != {1} else \
        np.array([r[0] for r in rows], dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _is_complex(text: str) -> bool:
    try:
        complex(text)
        return True
    except ValueError:
        return False


def load_points(path: str) -> Points:
    """An N × n₀ matrix from .npy or text (.csv/.txt: one row per point)."""
    raw = read_numbers(path, ndmin=2)
    if raw.ndim == 1:
        raise UserError(f"{path} holds a 1-D array of {raw.size} numbers; --data needs an N × n0 "
                        "matrix, one row per point (save N points of dimension 1 as shape (N, 1))")
    if raw.ndim != 2:
        raise UserError(f"{path} must hold an N × n0 matrix, got shape {raw.shape}")
    if not np.all(np.isfinite(raw)):
        bad = int((~np.isfinite(raw)).any(axis=1).sum())
        raise UserError(f"{path} contains non-finite values (nan or inf) in {bad} rows")
    return Points(raw, f"{Path(path).name} ({raw.shape[0]} × {raw.shape[1]})")


def points_shape(data: str | None, samples: int | None, n0: int | None, default_samples: int,
                 default_n0: int, dataset: str | None = None) -> tuple[int, int]:
    """(N, n0) of the data set the options name, without making or loading it."""
    if data is not None:
        shape = number_shape(data)
        return (shape[0], shape[1] if len(shape) > 1 else 1)
    n = default_samples if samples is None else samples
    if dataset == "digits":
        return (n, DIGITS_N0)
    return (n, default_n0 if n0 is None else n0)


def synthetic(samples: int, n0: int, seed: int) -> Points:
    from engine.data import sphere_points

    if samples < 1 or n0 < 1:
        raise UserError(f"--samples and --n0 must be positive, got {samples} and {n0}")
    return Points(sphere_points(samples, n0, seed),
                  f"{samples} Gaussian rows of norm √{n0} (seed {seed})")


DATASETS = ("sphere", "clustered", "digits")
DIGITS_ROWS, DIGITS_N0 = 1797, 64
CLUSTERS, CLUSTER_SPREAD = 10, 0.1


def digits(samples: int) -> Points:
    """The first `samples` of scikit-learn's 1797 handwritten digits (8 × 8 = 64 pixels), each row
    scaled to norm 8 = √64."""
    if not 1 <= samples <= DIGITS_ROWS:
        raise UserError(f"--samples must be between 1 and {DIGITS_ROWS} for --dataset digits, "
                        f"got {samples}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError("--dataset digits needs scikit-learn: pip install scikit-learn") from None
    x = np.asarray(load_digits().data[:samples], dtype=np.float64)
    x *= np.sqrt(DIGITS_N0) / np.linalg.norm(x, axis=1, keepdims=True)
    return Points(x, f"digits: first {samples} of {DIGITS_ROWS} 8×8 images (scikit-learn), "
                     f"rows of norm √{DIGITS_N0}")


def clustered(samples: int, n0: int, seed: int) -> Points:
    from engine.data import clustered_points

    if samples < 1 or n0 < 1:
        raise UserError(f"--samples and --n0 must be positive, got {samples} and {n0}")
    return Points(clustered_points(samples, n0, CLUSTERS, CLUSTER_SPREAD, seed),
                  f"{samples} points in {CLUSTERS} clusters (spread {CLUSTER_SPREAD:g}) on the "
                  f"sphere of radius √{n0} (seed {seed})")


def points(data: str | None, samples: int | None, n0: int | None, seed: int,
           default_samples: int, default_n0: int, dataset: str | None = None) -> Points:
    """The data set the options name: --data FILE, --dataset NAME, or synthetic --samples N
    --n0 D (Gaussian rows of norm √n0, the same as --dataset sphere)."""
    if data is not None:
        if dataset is not None:
            raise UserError("give either --data or --dataset, not both")
        if samples is not None or n0 is not None:
            raise UserError("give either --data or --samples/--n0, not both")
        return load_points(data)
    n = default_samples if samples is None else samples
    if dataset is None or dataset == "sphere":
        return synthetic(n, default_n0 if n0 is None else n0, seed)
    if dataset == "clustered":
        return clustered(n, default_n0 if n0 is None else n0, seed)
    if dataset == "digits":
        if n0 is not None and n0 != DIGITS_N0:
            raise UserError(f"--dataset digits has n0 = {DIGITS_N0} (8×8 pixels); drop --n0")
        return digits(n)
    raise UserError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")


def grid(side: int) -> Points:
    """The side × side coordinates of [0, 1)², row by row: x = (j/side, i/side) for pixel (i, j)
    (an image as a coordinate network sees it)."""
    if side < 2:
        raise UserError(f"--grid must be at least 2, got {side}")
    i, j = np.mgrid[0:side, 0:side]
    x = np.stack([j.ravel() / side, i.ravel() / side], axis=1).astype(np.float64)
    return Points(x, f"the {side} × {side} grid of [0, 1)² ({side * side:,} points)")
