"""Regularisers as shrinkage masks on singular values (docs/maths.md#shrinkage-masks, seed 003 §4).

Every regulariser of min_w ½‖y − Aw‖² is a mask m(σ) ∈ [0, 1] on the pseudo-inverse:
w = V diag(m(σ)/σ) Uᵀ y. Gradient descent from w₀ = 0 is exactly such a mask.
"""

from __future__ import annotations

import math

from engine import backend

backend.configure()

import jax  # noqa: E402  (after float64 is on)
import jax.numpy as jnp

from engine.errors import EngineError

# Mask threshold of Prop. 4.2: with τ_m = 1 − 1/e and η = 1/σ₁², T ≈ (σ₁/σ_k)².
TAU_DEFAULT = 1.0 - math.exp(-1.0)


def ridge_mask(sigma, lam):
    return sigma**2 / (sigma**2 + lam)


def pca_mask(sigma, tau=None, k=None):
    """Hard threshold: keep σ ≥ τ, or the first k components."""
    if (tau is None) == (k is None):
        raise EngineError("the PCA mask takes exactly one of a threshold τ or a count k")
    if k is not None:
        return (jnp.arange(sigma.shape[-1]) < k).astype(sigma.dtype)
    return (sigma >= tau).astype(sigma.dtype)


def gd_mask(sigma, eta, steps):
    """1 − (1 − ησ²)^T: exact for T steps of GD from w₀ = 0 with step η."""
    base = 1.0 - eta * sigma**2
    # expm1/log1p keep the mask accurate where ησ² is tiny and T is huge (relu2 needs T ~ 1e12).
    stable = -jnp.expm1(steps * jnp.log1p(-eta * sigma**2))
    return jnp.where(base > 0, stable, 1.0 - base**steps)


def flow_mask(sigma, eta, steps):
    """Gradient flow for time ηT: 1 − exp(−ησ²T)."""
    return -jnp.expm1(-eta * sigma**2 * steps)


def masked_solution(u, sigma, vt, y, mask):
    """w = V diag(m/σ) Uᵀ y, with zero weight on σ = 0."""
    safe = jnp.where(sigma > 0, sigma, 1.0)
    gain = jnp.where(sigma > 0, mask / safe, 0.0)
    return vt.T @ (gain * (u.T @ y))


def gradient_descent(a, y, eta, steps: int, w0=None):
    """Run T steps of w ← w − η Aᵀ(Aw − y): the computation the GD mask claims to summarise."""
    w = jnp.zeros(a.shape[1], a.dtype) if w0 is None else w0

    def step(w, _):
        return w - eta * (a.T @ (a @ w - y)), None

    w, _ = jax.lax.scan(step, w, None, length=steps)
    return w


gradient_descent = jax.jit(gradient_descent, static_argnames=("steps",))


def efficient_step(sigma_max):
    """η = 1/σ₁²: the iteration-efficient stable step (stable for η < 2/σ₁²)."""
    return 1.0 / sigma_max**2


def iterations_for_k(sigma, k, eta=None, tau=TAU_DEFAULT):
    """T at which the GD mask reaches τ at σ_k (Prop. 4.2): log(1 − τ)/log|1 − ησ_k²|.

    `k` counts from 1 and may be an array. Returns real T; round up for a whole number of steps.
    Meaningless for ησ_k² ≥ 2, where GD diverges: callers refuse such η.
    """
    sigma = jnp.asarray(sigma)
    eta = efficient_step(sigma[0]) if eta is None else eta
    x = eta * sigma[jnp.asarray(k) - 1] ** 2
    # For 1 < ησ² < 2 the mask oscillates about 1 with amplitude |1 − ησ²|^T; it stays ≥ τ from
    # the T where that amplitude is 1 − τ. log1p keeps tiny ησ² (σ_k ≪ σ₁) accurate.
    decay = jnp.where(x < 1, jnp.log1p(-jnp.minimum(x, 1.0)), jnp.log(jnp.abs(1.0 - x)))
    return jnp.log1p(-tau) / decay


def grey_zone(eta, steps, high=0.99, low=0.01):
    """σ where the GD mask passes `high` and `low`, their ratio and its width in dB."""
    if not (0 < low < high < 1):
        raise EngineError("the grey zone needs 0 < low < high < 1")

    def sigma_at(level):
        # 1 − (1 − ησ²)^T = level  ⇒  ησ² = 1 − (1 − level)^{1/T}
        return math.sqrt(-math.expm1(math.log1p(-level) / steps) / eta)

    s_high, s_low = sigma_at(high), sigma_at(low)
    ratio = s_high / s_low
    return {"sigma_high": s_high, "sigma_low": s_low, "ratio": ratio, "db": 20 * math.log10(ratio)}

