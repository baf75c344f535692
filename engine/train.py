"""Memorisation by full-batch gradient descent (docs/maths.md#lipschitz-and-memorisation, seed 000's
memorisation theorem).

The loss is the *sum* of squares, L(θ) = ½ Σ_i (f(x_i) − y_i)² = ½‖f(X) − y‖², so that its
gradient is Jᵀr (J = ∂f/∂θ, r = f(X) − y) and, linearised about θ, one GD step moves the residual
by r ← (I − η K) r with K = J Jᵀ the empirical NTK — no 1/N anywhere. The linearised dynamics are
stable for η < 2/λ_max(K) (the edge) and decrease the loss monotonically for any such η; the
default step η = 1/λ_max(K) at initialisation sits halfway to that edge, so the nonlinear network,
whose kernel drifts a little during training, keeps a margin. The mean loss would only rescale K
by 1/N (and η by N): nothing in the dynamics depends on the choice.

Labels are random signs y ∈ {−1, +1}; a point is *fitted* when |f(x_i) − y_i| < ½, which implies
sign f(x_i) = y_i. Training runs jitted, a chunk of steps per call (a `fori_loop` over the steps),
so a caller can report progress and stop between chunks; a running XLA computation cannot be
interrupted, so the chunk bounds how long a stop waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

from engine import backend
from engine.data import check_data
from engine.errors import EngineError

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from engine import compiled, mlp, ntk  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402

FIT_TOLERANCE = 0.5  # |f(x_i) − y_i| below this counts as fitted (and implies the right sign)
DEFAULT_CHUNK = 200  # GD steps per compiled call


def random_labels(samples: int, seed: int = 0) -> np.ndarray:
    """N random signs ±1 from a seed (a stream apart from `engine.data.sphere_points`' with the
    same seed)."""
    if samples < 1:
        raise EngineError(f"samples must be positive, got {samples}")
    rng = np.random.default_rng([seed, 1])
    return np.where(rng.random(samples) < 0.5, -1.0, 1.0)


def loss(spec: MLPSpec, params, x, y):
    """½‖f(X) − y‖² (the sum over samples, not the mean)."""
    r = mlp.apply(spec, params, x)[:, 0] - y
    return 0.5 * jnp.sum(r * r)


def fraction_fitted(pred, y, tol: float = FIT_TOLERANCE) -> float:
    """The fraction of points with |f(x_i) − y_i| < tol (for tol ≤ 1 and y = ±1: the sign is right)."""
    pred, y = np.asarray(pred).reshape(-1), np.asarray(y).reshape(-1)
    ok = np.isfinite(pred) & (np.abs(pred - y) < tol)
    return float(ok.mean())


def _chunk(spec, chunk, params, x, y, lr, n):
    """n ≤ chunk GD steps; returns the parameters and the loss *before* each step (chunk slots,
    the first n filled, the rest NaN)."""
    vg = jax.value_and_grad(partial(loss, spec))

    def step(t, carry):
        p, losses = carry
        value, g = vg(p, x, y)
        p = jax.tree.map(lambda w, d: w - lr * d, p, g)
        return p, losses.at[t].set(value)

    losses = jnp.full((chunk,), jnp.nan, x.dtype)
    return lax.fori_loop(0, n, step, (params, losses))


def compiled_chunk(spec: MLPSpec, chunk: int, params, x, y):
    """The chunk program compiled for these shapes (from the engine's cache); its last two
    arguments are the step and the number of steps to run."""
    return compiled.program(("train.chunk", spec, int(chunk)),
                            jax.jit(partial(_chunk, spec, int(chunk))), params, x, y, 1.0, 1)


def gradient_descent(spec: MLPSpec, params, x, y, lr: float, steps: int, *, chunk: int = DEFAULT_CHUNK,
                     callback: Callable[[int], bool | None] | None = None):
    """Full-batch GD on ½‖f(X) − y‖² with step lr: (params, losses) where losses[t] is the loss after
    t steps (t = 0 … steps done). After each chunk `callback(steps done)` is called; a true return
    stops early. Stops as well once the loss is no longer finite (divergence)."""
    check_training(spec, steps, lr, chunk)
    if lr is None:
        raise EngineError("gradient_descent needs a learning rate (memorise derives one from the NTK)")
    x = jnp.asarray(x)
    y = jnp.asarray(y, x.dtype).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise EngineError(f"{y.shape[0]} labels for {x.shape[0]} points")
    program = compiled_chunk(spec, chunk, params, x, y)
    curve, done = [], 0
    while done < steps:
        n = min(chunk, steps - done)
        params, losses = program(params, x, y, float(lr), int(n))
        losses = np.asarray(losses[:n])
        curve.append(losses)
        done += n
        if not np.all(np.isfinite(losses)):
            break
        if callback is not None and callback(done):
            break
    curve.append(np.array([float(loss(spec, params, x, y))]))
    losses = np.concatenate(curve)
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        losses = losses[: bad[0] + 1]  # up to the first non-finite value
    return params, losses


def check_training(spec: MLPSpec, steps: int, lr: float | None, chunk: int) -> None:
    if spec.outputs != 1:
        raise EngineError(f"training on labels needs one output, got output width {spec.outputs}")
    spec.act.require_derivative("gradient descent cannot move it; choose an activation with a "
                                "derivative")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise EngineError(f"steps must be a positive integer, got {steps}")
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise EngineError(f"chunk must be a positive integer, got {chunk}")
    if lr is not None and not (np.isfinite(lr) and lr > 0):
        raise EngineError(f"the learning rate must be a positive finite number, got {lr}")


@dataclass
class MemorisationResult:
    """One network trained on random labels."""

    spec: MLPSpec
    samples: int
    steps: int  # steps actually run (fewer when stopped or diverged)
    lr: float
    lr_from_ntk: bool
    spectrum: ntk.KernelSpectrum  # of the empirical NTK at initialisation
    losses: np.ndarray  # the loss after t = 0 … steps steps
    fraction_fitted: float
    diverged: bool
    stopped: bool
    ntk_s: float  # the initial kernel and its spectrum (compilation included)
    compile_s: float  # the GD program
    train_s: float

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def lr_relative(self) -> float:
        """η·λ_max(K₀): 1 by default, 2 at the linearised stability edge."""
        return self.lr * self.spectrum.lambda_max


def memorise(spec: MLPSpec, x, y, *, steps: int, lr: float | None = None, seed: int = 0,
             chunk: int = DEFAULT_CHUNK,
             callback: Callable[[int], bool | None] | None = None,
             kernel_progress=None) -> MemorisationResult:
    """Initialise the network (seeded, float64), compute its empirical NTK K₀ on x, and train it by
    full-batch GD on the labels y for `steps` steps with lr (default 1/λ_max(K₀)).
    `callback(steps done)` runs after each chunk; a true return stops training.
    `kernel_progress(done, total)` runs after each tile of K₀ (engine.ntk)."""
    check_training(spec, steps, lr, chunk)
    x = check_data(x, spec.widths[0])
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise EngineError(f"{y.shape[0]} labels for {x.shape[0]} points")
    start = time.perf_counter()
    params = mlp.init(spec, seed)
    xj = jnp.asarray(x)
    spectrum = ntk.kernel_spectrum(ntk.layerwise_ntk(spec, params, xj, progress=kernel_progress))
    if not spectrum.lambda_max > 0:
        raise EngineError("the initial NTK is zero, so gradient descent cannot move the network")
    from_ntk = lr is None
    lr = 1.0 / spectrum.lambda_max if from_ntk else float(lr)
    ntk_s = time.perf_counter() - start
    start = time.perf_counter()
    yj = jnp.asarray(y)
    compiled_chunk(spec, chunk, params, xj, yj)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    stopped = []

    def on_chunk(done):
        if callback is not None and callback(done):
            stopped.append(done)
            return True
        return False

    params, losses = gradient_descent(spec, params, xj, yj, lr, steps, chunk=chunk, callback=on_chunk)
    pred = np.asarray(mlp.apply(spec, params, xj))[:, 0]
    train_s = time.perf_counter() - start
    diverged = not np.isfinite(losses[-1])
    return MemorisationResult(
        spec, x.shape[0], len(losses) - 1, lr, from_ntk, spectrum, losses,
        0.0 if diverged else fraction_fitted(pred, y), diverged, bool(stopped),
        ntk_s, compile_s, train_s)
