"""Empirical Lipschitz constant of an MLP over a data set (docs/maths.md#lipschitz-and-memorisation,
seed 000 Fig. 3–4).

Two estimates of the Lipschitz constant Lip(f) = sup_{x≠x'} |f(x) − f(x')| / ‖x − x'‖ of a
network with one output, both computed from the data points x_1 … x_N:

* the gradient-norm estimate  max_i ‖∇ₓ f(x_i)‖  — the largest *local* Lipschitz constant seen
  on the data; it is the honest estimate (Lip(f) = sup_x ‖∇ₓ f(x)‖ for a differentiable f, and
  the maximum over the data approaches it from below as the data fill the domain);
* the pairwise estimate  max_{i≠j} |f(x_i) − f(x_j)| / ‖x_i − x_j‖  — a difference quotient
  over pairs, always a *lower bound* of Lip(f) (by the mean value theorem each quotient is
  ‖∇f‖ somewhere on the segment, projected on its direction). For well-separated points (seed
  000's Gaussian rows of norm √n₀ are all about √(2n₀) apart) it is far below the gradient norm.

Memory is bounded whatever N: gradients are taken `batch` samples at a time (`lax.map` over
batches of a `vmap` of `jax.grad`), and the N × N quotients are formed a block of rows at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from engine import backend
from engine.data import check_data, require_finite
from engine.errors import EngineError

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from engine import compiled, mlp  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402

_HI = lax.Precision.HIGHEST
# Temporaries allowed for one batch of gradients or one block of pairwise quotients.
_BLOCK_BYTES = 64 * 1024**2
# Pairs closer than this (relative to the points' norms) count as the same point: the distance
# from the Gram matrix, d² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j, is only accurate to ≈ ε(‖x_i‖² + ‖x_j‖²).
_DUPLICATE_RTOL = 64 * float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class LipschitzEstimate:
    """Both estimates for one network on one data set, with the per-point gradient norms."""

    spec: MLPSpec
    samples: int
    gradient_norm: float  # max_i ‖∇ₓ f(x_i)‖: the local (honest) estimate
    pairwise: float | None  # max_{i≠j} |Δf|/‖Δx‖: a lower bound; None with fewer than 2 points
    pair: tuple[int, int] | None  # the (i, j) attaining the pairwise estimate
    norms: np.ndarray  # ‖∇ₓ f(x_i)‖ for every point
    compile_s: float
    compute_s: float

    def summary(self) -> dict:
        """The distribution of the per-point gradient norms."""
        n = self.norms
        return {"min": float(n.min()), "median": float(np.median(n)), "mean": float(n.mean()),
                "max": float(n.max())}


def check_network(spec: MLPSpec) -> None:
    """Refuse networks whose Lipschitz estimate is undefined here."""
    if spec.outputs != 1:
        raise EngineError(f"the Lipschitz estimate needs one output, got output width {spec.outputs}")
    spec.act.require_derivative("∇ₓf is zero where it exists and the network is not Lipschitz; "
                                "choose another activation")


def check_memory(spec: MLPSpec, samples: int) -> None:
    """Refuse before allocating: the data (and its device copy), the parameters with their
    initialisation's transient, the per-point outputs and gradients, and the work blocks."""
    item = 8
    data = 2 * samples * spec.widths[0] * item
    params = spec.parameter_count * item
    draw = 3 * item * max(a * b for a, b in zip(spec.widths[1:], spec.widths[:-1]))
    results = samples * (spec.widths[0] + 2) * item
    backend.check_fits(f"the Lipschitz estimate of {samples} points through widths "
                       f"{list(spec.widths)}", data + params + draw + results + 2 * _BLOCK_BYTES)


def gradient_batch(spec: MLPSpec, samples: int) -> int:
    """Samples per vmapped gradient batch: the activations, their derivatives and cotangents of a
    batch (≈ 4 numbers per neuron per sample) stay within the block budget."""
    per_sample = 4 * sum(spec.widths) * 8
    return int(max(1, min(samples, _BLOCK_BYTES // per_sample)))


def pairwise_block(samples: int) -> int:
    """Rows per block of the N × N quotient matrix (≈ 4 temporaries of block × N floats)."""
    return int(max(1, min(samples, _BLOCK_BYTES // (4 * 8 * samples))))


def _scalar_f(spec, params, xi):
    return mlp.apply(spec, params, xi[None, :])[0, 0]


def _values_and_gradients(spec, batch, params, x):
    """(f(x_i), ∇ₓ f(x_i)) for every row, `batch` rows at a time."""
    vg = jax.value_and_grad(partial(_scalar_f, spec), argnums=1)
    return lax.map(lambda xi: vg(params, xi), x, batch_size=batch)


def input_gradients(spec: MLPSpec, params, x, *, batch: int | None = None):
    """(f, ∇ₓf): the outputs (N,) and input gradients (N × n₀) at the rows of x."""
    check_network(spec)
    x = jnp.asarray(check_data(x, spec.widths[0]))
    batch = gradient_batch(spec, x.shape[0]) if batch is None else int(batch)
    if batch < 1:
        raise EngineError(f"batch must be positive, got {batch}")
    f, g = _gradient_program(spec, batch, params, x)(params, x)
    return np.asarray(f), np.asarray(g)


def _pairwise_max(block, f, x):
    """(max quotient, i, j) over i ≠ j, a block of rows at a time; duplicate points are skipped."""
    N = x.shape[0]
    sq = jnp.sum(x * x, axis=1)
    blocks = -(-N // block)
    pad = blocks * block - N
    xp = jnp.concatenate([x, jnp.zeros((pad, x.shape[1]), x.dtype)])
    fp = jnp.concatenate([f, jnp.zeros((pad,), f.dtype)])
    sqp = jnp.concatenate([sq, jnp.zeros((pad,), sq.dtype)])
    rows = jnp.arange(blocks * block)

    def one(b):
        r = b * block
        xb = lax.dynamic_slice_in_dim(xp, r, block)
        fb = lax.dynamic_slice_in_dim(fp, r, block)
        sb = lax.dynamic_slice_in_dim(sqp, r, block)
        idx = lax.dynamic_slice_in_dim(rows, r, block)
        d2 = sb[:, None] + sq[None, :] - 2 * jnp.matmul(xb, x.T, precision=_HI)
        distinct = d2 > _DUPLICATE_RTOL * (sb[:, None] + sq[None, :])
        valid = distinct & (idx[:, None] < N) & (idx[:, None] != jnp.arange(N)[None, :])
        q = jnp.abs(fb[:, None] - f[None, :]) / jnp.sqrt(jnp.where(valid, d2, 1.0))
        q = jnp.where(valid, q, -jnp.inf)
        k = jnp.argmax(q)
        return q.reshape(-1)[k], idx[k // N], k % N

    best, i, j = lax.map(one, jnp.arange(blocks))
    k = jnp.argmax(best)
    return best[k], i[k], j[k]


def _exact_pair(found, f, x):
    """The winning pair's quotient recomputed from x_i − x_j (None when every pair is a duplicate)."""
    best, i, j = found
    if not np.isfinite(float(best)):
        return None, None
    i, j = int(i), int(j)
    return float(abs(f[i] - f[j]) / np.linalg.norm(x[i] - x[j])), (i, j)


def estimate(spec: MLPSpec, params, x, *, batch: int | None = None,
             block: int | None = None) -> LipschitzEstimate:
    """Both Lipschitz estimates of the network (spec, params) over the rows of x.
    Compilation is timed apart from the computation."""
    check_network(spec)
    x = check_data(x, spec.widths[0])
    N = x.shape[0]
    batch = gradient_batch(spec, N) if batch is None else int(batch)
    block = pairwise_block(N) if block is None else int(block)
    if batch < 1 or block < 1:
        raise EngineError(f"batch and block must be positive, got {batch} and {block}")
    start = time.perf_counter()
    xj = jnp.asarray(x)
    grads = _gradient_program(spec, batch, params, xj)
    pairs = _pairwise_program(block, xj[:, 0], xj) if N >= 2 else None
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    f, g = grads(params, xj)
    require_finite(np.asarray(f), f"the outputs of the {spec.act.name} network")
    require_finite(np.asarray(g), f"the input gradients of the {spec.act.name} network")
    norms = np.linalg.norm(np.asarray(g), axis=1)
    pairwise, pair = None, None
    if pairs is not None:
        pairwise, pair = _exact_pair(pairs(f, xj), np.asarray(f), x)
    compute_s = time.perf_counter() - start
    return LipschitzEstimate(spec, N, float(norms.max()), pairwise, pair, norms, compile_s, compute_s)


def network_estimate(spec: MLPSpec, x, *, seed: int = 0, **kw) -> LipschitzEstimate:
    """Initialise the network (seeded, float64) and estimate its Lipschitz constant on x."""
    check_network(spec)
    check_memory(spec, np.shape(x)[0])
    params = mlp.init(spec, seed)
    return estimate(spec, params, x, **kw)


def _gradient_program(spec: MLPSpec, batch: int, params, x):
    return compiled.program(("lipschitz.gradients", spec, batch),
                            jax.jit(partial(_values_and_gradients, spec, batch)), params, x)


def _pairwise_program(block: int, f, x):
    return compiled.program(("lipschitz.pairwise", block), jax.jit(partial(_pairwise_max, block)),
                            f, x)
