"""Input data of the deep-network computations: the one check of an N × n₀ data matrix and the
seeded synthetic point sets (docs/engine.md#data).

The sphere, clustered and close-pair sets lie on the sphere of radius √n₀ in R^n₀, so entries are
of order one and the input covariance's diagonal is σ_w² + σ_b² (seed 000's setting); the Gaussian
and uniform sets have unit variance per coordinate without a fixed norm.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import EngineError


def check_data(x, n0: int | None = None) -> np.ndarray:
    """x as a float64 N × n₀ matrix with N ≥ 1, refused unless finite and (given n0) of width n0."""
    x = np.asarray(x, dtype=np.float64)
    want = f"N × {n0} matrix with N ≥ 1" if n0 is not None else "N × n₀ matrix with N, n₀ ≥ 1"
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1 or (n0 is not None and x.shape[1] != n0):
        raise EngineError(f"data must be an {want}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise EngineError("data contain NaN or infinite values")
    return x


def _check_sizes(n: int, n0: int) -> None:
    if n < 1 or n0 < 1:
        raise EngineError(f"need at least one point of dimension ≥ 1, got n={n}, n₀={n0}")


def sphere_points(n: int, n0: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """n points uniform on the sphere of radius √n₀: Gaussian rows rescaled to that norm."""
    _check_sizes(n, n0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n0))
    x *= math.sqrt(n0) / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype)


def gaussian_points(n: int, n0: int, seed: int = 0) -> np.ndarray:
    """n rows of N(0, I_n₀): unit variance per coordinate, norms spread about √n₀ (unlike
    `sphere_points`, whose norms are all √n₀)."""
    _check_sizes(n, n0)
    return np.random.default_rng(seed).standard_normal((n, n0))


def uniform_points(n: int, n0: int, seed: int = 0) -> np.ndarray:
    """n rows uniform in the cube [−√3, √3]^n₀: unit variance per coordinate, like the other
    point sets, but bounded and not rotation invariant."""
    _check_sizes(n, n0)
    return np.random.default_rng(seed).uniform(-math.sqrt(3.0), math.sqrt(3.0), (n, n0))


def clustered_points(n: int, n0: int, clusters: int, spread: float, seed: int = 0) -> np.ndarray:
    """n points in `clusters` groups around random centres, projected back onto the sphere of
    radius √n₀; `spread` is the per-coordinate noise relative to the centres' (≈ the angular radius
    in radians for small spread). Point i belongs to cluster i mod clusters."""
    _check_sizes(n, n0)
    if clusters < 1 or not (math.isfinite(spread) and spread >= 0):
        raise EngineError(f"need clusters ≥ 1 and spread ≥ 0, got {clusters}, {spread}")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, n0))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(n0)
    x = centres[np.arange(n) % clusters] + spread * rng.standard_normal((n, n0))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * math.sqrt(n0)


def close_pairs(n_pairs: int, n0: int, angle, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2·n_pairs points on the sphere of radius √n₀; rows 2k and 2k+1 make an input angle
    `angle` (radians; one number or one per pair). Returns (X, pairs) with pairs[k] = (2k, 2k+1)."""
    _check_sizes(n_pairs, n0)
    if n0 < 2:
        raise EngineError("close pairs need inputs of dimension n₀ ≥ 2")
    angle = np.broadcast_to(np.asarray(angle, np.float64), (n_pairs,))
    if not np.all((angle >= 0) & (angle <= np.pi)):
        raise EngineError("pair angles must lie in [0, π] (radians)")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_pairs, n0))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u = rng.standard_normal((n_pairs, n0))
    u -= np.sum(u * x, axis=1, keepdims=True) * x
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    z = np.cos(angle)[:, None] * x + np.sin(angle)[:, None] * u
    X = np.empty((2 * n_pairs, n0))
    X[0::2], X[1::2] = x, z
    pairs = np.stack([np.arange(0, 2 * n_pairs, 2), np.arange(1, 2 * n_pairs, 2)], axis=1)
    return X * math.sqrt(n0), pairs


# --- matrices before LAPACK ---------------------------------------------------------------------
# LAPACK writes "On entry to DLASCL parameter number 4 had an illegal value" to stdout when an SVD
# or eigensolver gets inf or NaN (an activation that overflows: relu1000, relu2 at scale 1e200).
# No non-finite matrix reaches it: checked on the host, or, inside a compiled program, replaced by
# zeros with a flag the caller turns into this error.


def overflow_error(what: str) -> EngineError:
    return EngineError(f"{what} overflowed (inf or nan entries): lower the scale, or choose an "
                       "activation that stays finite there")


def require_finite(matrix, what: str) -> None:
    """Refuse a host (numpy) matrix with non-finite entries before a LAPACK call."""
    if not np.all(np.isfinite(matrix)):
        raise overflow_error(what)


def guard_finite(a):
    """Inside a jitted program, before LAPACK: (a, True) when every entry is finite, else (zeros,
    False). The caller checks the flag with `require_flag`."""
    import jax.numpy as jnp

    ok = jnp.all(jnp.isfinite(a))
    return jnp.where(ok, a, jnp.zeros_like(a)), ok


def require_flag(ok, what: str) -> None:
    if not bool(ok):
        raise overflow_error(what)
