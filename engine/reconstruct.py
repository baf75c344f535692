"""Signal reconstruction with a shallow network under GD regularisation
(docs/maths.md#reconstruction, seed 003 Fig. 6).

Train on every other sample of a signal in [0, 1]; evaluate on all samples. For each number of
active components k:
  (a) "iterations": s = M fixed, η = 1/σ₁², T from Prop. 4.2 for k;
  (b) "scale":      s = k, T fixed (50 by default), η = 1/σ₁².
Baseline: least squares onto the first k sines sin(πjx) (closed form, no GD).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from engine import backend

backend.configure()

import jax  # noqa: E402  (after float64 is on)
import jax.numpy as jnp
import numpy as np

from engine.activations import Activation
from engine.data import guard_finite, require_flag
from engine.errors import EngineError
from engine.shallow import check_sizes, grid, jacobian
from engine.shrinkage import TAU_DEFAULT, gd_mask, masked_solution

STRATEGIES = ("iterations", "scale")


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_all: np.ndarray
    y_all: np.ndarray


def split_every_other(signal: np.ndarray) -> Split:
    """Samples at x = i/L; train on even i (N = L/2), evaluate on every i."""
    y = np.asarray(signal, dtype=np.float64).ravel()
    if y.size < 4:
        raise EngineError(f"a signal needs at least 4 samples, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise EngineError("the signal contains non-finite values")
    x = np.arange(y.size) / y.size
    return Split(x[::2], y[::2], x, y)


def psnr(pred, target):
    """10·log10(1/MSE) for signals in [0, 1]."""
    mse = jnp.mean((pred - target) ** 2, axis=-1)
    return 10.0 * jnp.log10(1.0 / mse)


@partial(jax.jit, static_argnames=("k",))
def _dst_prediction(x_train, y_train, x_all, k: int):
    j = jnp.arange(1, k + 1)
    basis_train = jnp.sin(jnp.pi * x_train[:, None] * j)
    coef, *_ = jnp.linalg.lstsq(basis_train, y_train)
    return jnp.sin(jnp.pi * x_all[:, None] * j) @ coef


def dst_psnr(split: Split, ks) -> np.ndarray:
    """PSNR of the least-squares fit onto the first k sines, for each k."""
    return np.array([
        float(psnr(_dst_prediction(split.x_train, split.y_train, split.x_all, int(k)), split.y_all))
        for k in ks
    ])


@partial(jax.jit, static_argnames=("act",))
def _iterations_curve(act: Activation, x_train, y_train, x_all, biases, scale, ks, tau):
    a, ok = guard_finite(jacobian(act, x_train, biases, scale))
    u, sigma, vt = jnp.linalg.svd(a, full_matrices=False)
    eta = 1.0 / sigma[0] ** 2
    steps = jnp.log1p(-tau) / jnp.log1p(-eta * sigma[ks - 1] ** 2)
    steps = jnp.maximum(jnp.ceil(steps), 1.0)
    masks = gd_mask(sigma[None, :], eta, steps[:, None])
    w = jax.vmap(lambda m: masked_solution(u, sigma, vt, y_train, m))(masks)
    return (jacobian(act, x_all, biases, scale) @ w.T).T, steps, ok


@partial(jax.jit, static_argnames=("act",))
def _scale_curve(act: Activation, x_train, y_train, x_all, biases, scales, steps):
    def one(scale):
        a, ok = guard_finite(jacobian(act, x_train, biases, scale))
        u, sigma, vt = jnp.linalg.svd(a, full_matrices=False)
        mask = gd_mask(sigma, 1.0 / sigma[0] ** 2, steps)
        return (jacobian(act, x_all, biases, scale) @ masked_solution(u, sigma, vt, y_train, mask),
                ok)

    return jax.lax.map(one, scales)


@dataclass(frozen=True)
class Curve:
    activation: str
    strategy: str
    k: np.ndarray
    psnr: np.ndarray
    steps: np.ndarray  # GD iterations used for each k
    scales: np.ndarray  # activation scale used for each k
    predictions: np.ndarray  # (len(k), L) reconstructions on every sample


def check_ks(ks, width: int) -> np.ndarray:
    ks = np.asarray(sorted(set(int(k) for k in ks)), dtype=np.int64)
    if ks.size == 0 or ks[0] < 1:
        raise EngineError("k values must be positive integers")
    if ks[-1] > width:
        raise EngineError(f"k = {ks[-1]} exceeds the network width {width}")
    return ks


def reconstruction_curve(
    act: Activation, split: Split, ks, strategy: str, width: int | None = None,
    fixed_steps: int = 50, tau: float = TAU_DEFAULT,
) -> Curve:
    """PSNR against k for one activation under one strategy."""
    if strategy not in STRATEGIES:
        raise EngineError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    width = int(width or split.x_train.size)
    check_sizes(split.x_train.size, width)
    ks = check_ks(ks, min(width, split.x_train.size))
    biases = grid(width)
    xt, yt, xa = (jnp.asarray(v) for v in (split.x_train, split.y_train, split.x_all))
    if strategy == "iterations":
        preds, steps, ok = _iterations_curve(act, xt, yt, xa, biases, jnp.float64(width),
                                             jnp.asarray(ks), tau)
        scales = np.full(ks.shape, float(width))
        steps = np.asarray(steps)
    else:
        scales = ks.astype(np.float64)
        preds, ok = _scale_curve(act, xt, yt, xa, biases, jnp.asarray(scales),
                                 float(fixed_steps))
        steps = np.full(ks.shape, float(fixed_steps))
    require_flag(jnp.all(ok), f"the Jacobian of {act.name} on the training samples")
    preds = np.asarray(preds)
    return Curve(act.name, strategy, ks, np.asarray(psnr(preds, split.y_all[None, :])),
                 steps, scales, preds)


def relative_rise(curve_psnr: np.ndarray, baseline_psnr: np.ndarray) -> float:
    """A curve's PSNR rise from the smallest to the largest k over the baseline's rise."""
    return float((curve_psnr[-1] - curve_psnr[0]) / (baseline_psnr[-1] - baseline_psnr[0]))
