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


def read_numbers(path: str, ndmin: int = 1) -> np.ndarray:
    """A float64 array from .npy or text (.csv/.txt, commas or whitespace); one-line errors."""
    if not Path(path).is_file():
        raise UserError(f"no such file: {path}")
    try:
        if path.lower().endswith(".npy"):
            raw = np.load(path, allow_pickle=False)
        else:
            text = Path(path).read_text().replace(",", " ")
            raw = np.loadtxt(text.splitlines(), ndmin=ndmin)
        return np.asarray(raw, dtype=np.float64)
    except Exception as exc:  # np.load/loadtxt raise ValueError, OSError, TypeError, ...
        raise UserError(f"cannot read numbers from {path}: {' '.join(str(exc).split())}") from None


def load_points(path: str) -> Points:
    """An N × n₀ matrix from .npy or text (.csv/.txt, commas or whitespace); a 1-D file is N × 1."""
    raw = read_numbers(path, ndmin=2)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2 or raw.shape[0] < 1 or raw.shape[1] < 1:
        raise UserError(f"{path} must hold an N × n0 matrix, got shape {raw.shape}")
    if not np.all(np.isfinite(raw)):
        raise UserError(f"{path} contains non-finite values (nan or inf)")
    return Points(raw, f"{Path(path).name} ({raw.shape[0]} × {raw.shape[1]})")


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
