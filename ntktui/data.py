"""Input data sets (N × n₀ matrices) for the kernel commands: a .npy/.csv file or synthetic rows.

Loading lives in the front end so that the engine stays pure numerics; every failure is a
UserError with a one-line message. Synthetic data are Gaussian rows rescaled to norm √n₀
(seed 000's setting), drawn by `engine.mlp.synthetic_inputs` from a seed.
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


def load_points(path: str) -> Points:
    """An N × n₀ matrix from .npy or text (.csv/.txt, commas or whitespace); a 1-D file is N × 1."""
    if not Path(path).is_file():
        raise UserError(f"no such file: {path}")
    try:
        if path.lower().endswith(".npy"):
            raw = np.load(path, allow_pickle=False)
        else:
            text = Path(path).read_text().replace(",", " ")
            raw = np.loadtxt(text.splitlines(), ndmin=2)
        raw = np.asarray(raw, dtype=np.float64)
    except Exception as exc:  # np.load/loadtxt raise ValueError, OSError, TypeError, ...
        raise UserError(f"cannot read numbers from {path}: {' '.join(str(exc).split())}") from None
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2 or raw.shape[0] < 1 or raw.shape[1] < 1:
        raise UserError(f"{path} must hold an N × n0 matrix, got shape {raw.shape}")
    if not np.all(np.isfinite(raw)):
        raise UserError(f"{path} contains non-finite values (nan or inf)")
    return Points(raw, f"{Path(path).name} ({raw.shape[0]} × {raw.shape[1]})")


def synthetic(samples: int, n0: int, seed: int) -> Points:
    from engine.mlp import synthetic_inputs

    if samples < 1 or n0 < 1:
        raise UserError(f"--samples and --n0 must be positive, got {samples} and {n0}")
    return Points(synthetic_inputs(samples, n0, seed),
                  f"{samples} Gaussian rows of norm √{n0} (seed {seed})")


def points(data: str | None, samples: int | None, n0: int | None, seed: int,
           default_samples: int, default_n0: int) -> Points:
    """The data set the options name: --data FILE, or synthetic --samples N --n0 D."""
    if data is not None:
        if samples is not None or n0 is not None:
            raise UserError("give either --data or --samples/--n0, not both")
        return load_points(data)
    return synthetic(default_samples if samples is None else samples,
                     default_n0 if n0 is None else n0, seed)
