"""The spline view of an activation (docs/maths.md#the-spline-view, seed 003 Appendix A).

D_p is the N × N lower-triangular ("same"-size, causal) finite-difference matrix of order p,
(D_p f)_i = Σ_k (−1)^k·C(p, k)·f_{i−k}. D_p = (I − S)^p with S the down-shift, so
D_p⁻¹ = Σ_t C(t+p−1, p−1)·S^t: column j of D_p⁻¹ is the shifted spline C(t+p−1, p−1), t = i − j ≥ 0,
which is a shifted heaviside (p = 1), relu (p = 2) and relu2 up to lower-order terms (p = 3).

The matrices hold small integers, which float64 represents exactly; the inverse is JAX's
triangular solve in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine import backend
from engine.errors import EngineError

backend.configure()

import jax.numpy as jnp  # noqa: E402  (after float64 is on)
from jax.scipy.linalg import solve_triangular  # noqa: E402


def check(order: int, size: int) -> None:
    if order < 1:
        raise EngineError(f"the difference order p must be at least 1, got {order}")
    if size <= 0:
        raise EngineError(f"the size N must be positive, got {size}")
    # D_p⁻¹'s largest entry is C(N+p−2, p−1); above 2^53 float64 no longer holds it exactly.
    if math.comb(size + order - 2, order - 1) > 2**53:
        raise EngineError(f"D_p⁻¹ for p={order}, N={size} has entries above 2^53, which float64 "
                          "cannot hold exactly; use a smaller order or size")
    # D_p, its inverse and the identity solved against
    backend.check_fits(f"two {size} × {size} difference matrices", 3 * size * size * 8)


def difference_filter(order: int) -> np.ndarray:
    """The filter (−1)^k·C(p, k), k = 0..p."""
    return np.array([(-1) ** k * math.comb(order, k) for k in range(order + 1)], dtype=np.float64)


def difference_matrix(order: int, size: int) -> np.ndarray:
    """D_p (N × N): the filter on the main diagonal and the p sub-diagonals below it."""
    check(order, size)
    d = np.zeros((size, size))
    for k, c in enumerate(difference_filter(order)[:size]):
        d += c * np.eye(size, k=-k)
    return d


def difference_inverse(order: int, size: int) -> np.ndarray:
    """D_p⁻¹, by forward substitution (D_p is unit lower-triangular, so this is exact for small
    integer entries, with no pivoting to spoil it)."""
    d = jnp.asarray(difference_matrix(order, size), dtype=jnp.float64)
    return np.asarray(solve_triangular(d, jnp.eye(size, dtype=jnp.float64), lower=True,
                                       unit_diagonal=True))


def _offsets(size: int, column: int | None = None) -> np.ndarray:
    """t = i − j: for rows i = 0..N−1 of column j, or the whole N × N matrix when column is None."""
    i = np.arange(size)
    return i - column if column is not None else i[:, None] - i[None, :]


def closed_form(order: int, t: np.ndarray) -> np.ndarray:
    """C(t+p−1, p−1) for t ≥ 0, else 0, elementwise (exact integers through a lookup table)."""
    t = np.asarray(t, dtype=np.int64)
    table = np.array([math.comb(k + order - 1, order - 1) for k in range(max(int(t.max()), 0) + 1)],
                     dtype=np.float64)
    return np.where(t >= 0, table[np.clip(t, 0, None)], 0.0)


def plain_activation(order: int, t: np.ndarray) -> np.ndarray:
    """The plain shifted activation: heaviside H(t) for p = 1, max(0, t+1)^(p−1)/(p−1)! for p ≥ 2
    (the leading term of the closed form; for p ≥ 3 they differ by lower-order terms)."""
    t = np.asarray(t, dtype=np.float64)
    if order == 1:
        return (t >= 0).astype(np.float64)
    return np.maximum(t + 1, 0.0) ** (order - 1) / math.factorial(order - 1)


def reference_column(order: int, size: int, column: int) -> np.ndarray:
    """Column j (0-based) of D_p⁻¹ in closed form."""
    check(order, size)
    return closed_form(order, _offsets(size, column))


def shifted_activation(order: int, size: int, column: int) -> np.ndarray:
    """The plain activation shifted to column j (0-based)."""
    check(order, size)
    return plain_activation(order, _offsets(size, column))


def activation_name(order: int) -> str:
    """The activation whose spline order is p: heaviside, relu, relu2, relu3, …"""
    return {1: "heaviside", 2: "relu"}.get(order, f"relu{order - 1}")


@dataclass(frozen=True)
class Deviations:
    """Max absolute deviations over all N columns."""

    inverse_residual: float  # ‖D_p·D_p⁻¹ − I‖_max
    closed_form: float  # ‖D_p⁻¹ − C(t+p−1, p−1)‖_max
    activation: float  # ‖D_p⁻¹ − plain shifted activation‖_max
    activation_relative: float  # the same divided by ‖D_p⁻¹‖_max


def deviations(order: int, size: int) -> Deviations:
    d = difference_matrix(order, size)
    inv = difference_inverse(order, size)
    t = _offsets(size)
    act = float(np.abs(inv - plain_activation(order, t)).max())
    return Deviations(
        inverse_residual=float(np.abs(d @ inv - np.eye(size)).max()),
        closed_form=float(np.abs(inv - closed_form(order, t)).max()),
        activation=act,
        activation_relative=act / float(np.abs(inv).max()),
    )
