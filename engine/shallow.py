"""The shallow network of seed 003, f(x) = Σ_j w_j φ(s(x − b_j))
(docs/maths.md#the-shallow-jacobian).

Its Jacobian with respect to the weights, A_ij = φ(s(x_i − b_j)), is everything the spectral
analyses need: singular values (the spectrum), left singular vectors (principal components as
functions of x) and the least-squares solutions of `engine.shrinkage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from engine import backend

backend.configure()

import jax  # noqa: E402  (after float64 is on)
import jax.numpy as jnp
import numpy as np

from engine import compiled
from engine.activations import Activation
from engine.errors import EngineError
from engine.data import guard_finite, require_flag

# LAPACK's SVD keeps about this many N×M-sized work arrays alive at once (A, its copy, U, Vᵀ).
_SVD_WORK_COPIES = 4


def grid(n: int, dtype=jnp.float64) -> jnp.ndarray:
    """n equally spaced points in [0, 1): (i − 1)/n, i = 1..n (computed eagerly, outside jit)."""
    return jnp.asarray(np.arange(n) / n, dtype=dtype)


@partial(jax.jit, static_argnames=("act",))
def jacobian(act: Activation, x: jnp.ndarray, biases: jnp.ndarray, scale) -> jnp.ndarray:
    """A_ij = φ(s·(x_i − b_j)) (N × M)."""
    return act.apply(x[:, None] - biases[None, :], scale)


@jax.jit
def singular_values(a: jnp.ndarray):
    """(σ, every entry of a finite): a non-finite matrix never reaches LAPACK."""
    a, ok = guard_finite(a)
    return jnp.linalg.svd(a, compute_uv=False), ok


@jax.jit
def svd(a: jnp.ndarray):
    """(u, σ, vᵀ, every entry of a finite)."""
    a, ok = guard_finite(a)
    return (*jnp.linalg.svd(a, full_matrices=False), ok)


@dataclass(frozen=True)
class Spectrum:
    activation: str
    scale: float
    samples: int
    width: int
    singular_values: np.ndarray
    floor: float
    compile_s: float = 0.0
    compute_s: float = 0.0

    @property
    def normalized(self) -> np.ndarray:
        return self.singular_values / self.singular_values[0]

    @property
    def resolved(self) -> np.ndarray:
        """True where the singular value stands above the round-off floor."""
        return self.singular_values > self.floor


def check_sizes(samples: int, width: int, dtype=jnp.float64, vectors: bool = False) -> None:
    if samples <= 0 or width <= 0:
        raise EngineError(f"samples and width must be positive, got samples={samples}, width={width}")
    itemsize = jnp.dtype(dtype).itemsize
    copies = _SVD_WORK_COPIES + (2 if vectors else 0)
    backend.check_fits(
        f"a {samples} × {width} Jacobian and its SVD", copies * samples * width * itemsize,
        lambda available: f"; N × M up to {available // (copies * itemsize):,} entries fits",
    )


def check_nonzero(sigma, what: str, dtype) -> None:
    """σ₁ must be a normal number: a zero (or subnormal) largest singular value makes σ_k/σ₁ and
    the step 1/σ₁² meaningless (relu at scale 0 is the zero function)."""
    if not float(sigma[0]) >= float(jnp.finfo(dtype).tiny):
        raise EngineError(f"{what} vanishes (σ₁ = {float(sigma[0]):.3g}): φ(s·t) is zero or "
                          "subnormal on the whole grid; choose another scale or activation")


def check_scale(scale: float) -> None:
    if not np.isfinite(scale):
        raise EngineError(f"scale must be a finite number, got {scale}")


def _spectrum(act: Activation, x, b, scale):
    return singular_values(jacobian(act, x, b, scale))


def _spectrum_program(act: Activation, samples: int, width: int, dtype):
    """The (x, b, scale ↦ σ) program compiled for these sizes, from the engine's cache.
    The grids are arguments, not traced constants: XLA may rewrite (i − j)/n inside a program so
    that x_i − b_i is not exactly 0, which flips heaviside's diagonal."""
    return compiled.program(
        ("shallow.spectrum", act), jax.jit(partial(_spectrum, act)),
        jax.ShapeDtypeStruct((samples,), dtype), jax.ShapeDtypeStruct((width,), dtype),
        jax.ShapeDtypeStruct((), dtype))


def spectrum(
    act: Activation, samples: int, width: int, scale: float, dtype=jnp.float64
) -> Spectrum:
    """Singular values of the shallow Jacobian on the default aligned grids."""
    check_scale(scale)
    check_sizes(samples, width, dtype)
    dtype = jnp.dtype(dtype)
    start = time.perf_counter()
    program = _spectrum_program(act, samples, width, dtype)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    sigma, ok = program(grid(samples, dtype), grid(width, dtype), jnp.asarray(scale, dtype))
    what = f"the {samples} × {width} Jacobian of {act.name} at scale {scale:g}"
    require_flag(ok, what)
    sigma = np.asarray(sigma)
    check_nonzero(sigma, what, dtype)
    compute_s = time.perf_counter() - start
    # Below max(N, M)·ε·σ₁ a computed singular value is round-off, not a result.
    return Spectrum(act.name, float(scale), samples, width, sigma,
                    backend.roundoff_floor(max(samples, width), sigma[0], dtype), compile_s,
                    compute_s)


def principal_components(
    act: Activation, samples: int, width: int, scale: float, count: int, dtype=jnp.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, the leading `count` columns of U (N × count, sign fixed so each starts rising), σ."""
    check_scale(scale)
    check_sizes(samples, width, dtype, vectors=True)
    x = grid(samples, dtype)
    u, sigma, _, ok = svd(jacobian(act, x, grid(width, dtype), jnp.asarray(scale, dtype)))
    what = f"the {samples} × {width} Jacobian of {act.name} at scale {scale:g}"
    require_flag(ok, what)
    check_nonzero(sigma, what, dtype)
    u = np.asarray(u[:, :count])
    # An SVD's signs are arbitrary; fix each component so its largest-magnitude entry is positive.
    idx = np.argmax(np.abs(u), axis=0)
    u = u * np.sign(u[idx, np.arange(u.shape[1])])
    return np.asarray(x), u, np.asarray(sigma)


# --- 2-D coordinates (docs/maths.md#principal-components-in-2-d, seed 003 Appendix E) --------

def grid_2d(side: int, dtype=jnp.float64) -> jnp.ndarray:
    """side² points of [0, 1)², row-major: (x, y) with x along a row."""
    g = grid(side, dtype)
    yy, xx = jnp.meshgrid(g, g, indexing="ij")
    return jnp.stack([xx.ravel(), yy.ravel()], axis=1)


def directions_2d(kind: str, width: int, side: int, seed: int, dtype=jnp.float64):
    """Weights w_j and biases b_j of the first layer.

    rank-one (Zhang et al.): every w_j = (1/side, 1), so wᵀx orders the grid row-major without
    ties, and the biases are equally spaced over [0, 1). full-rank: random unit directions with
    biases uniform over the range wᵀx takes on the grid.
    """
    if kind == "rank-one":
        w = jnp.tile(jnp.asarray([1.0 / side, 1.0], dtype), (width, 1))
        return w, grid(width, dtype)
    if kind == "full-rank":
        kw, kb = jax.random.split(jax.random.PRNGKey(seed))
        angle = jax.random.uniform(kw, (width,), dtype, 0.0, 2 * jnp.pi)
        w = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
        # wᵀx over [0,1)² spans [min(w1,0)+min(w2,0), max(w1,0)+max(w2,0)].
        lo = jnp.minimum(w, 0).sum(axis=1)
        hi = jnp.maximum(w, 0).sum(axis=1)
        b = lo + (hi - lo) * jax.random.uniform(kb, (width,), dtype)
        return w, b
    raise EngineError(f"unknown 2-D weight initialisation {kind!r}; choose rank-one or full-rank")


@partial(jax.jit, static_argnames=("act",))
def jacobian_2d(act: Activation, coords, weights, biases, scale):
    """A_ij = φ(s·(w_jᵀx_i − b_j))."""
    return act.apply(coords @ weights.T - biases[None, :], scale)


def principal_components_2d(
    act: Activation, side: int, width: int, scale: float, kind: str, count: int, seed: int = 0,
    dtype=jnp.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """The leading `count` principal components as side × side images, and σ."""
    check_scale(scale)
    check_sizes(side * side, width, dtype, vectors=True)
    coords = grid_2d(side, dtype)
    w, b = directions_2d(kind, width, side, seed, dtype)
    u, sigma, _, ok = svd(jacobian_2d(act, coords, w, b, jnp.asarray(scale, dtype)))
    what = f"the {side * side} × {width} Jacobian of {act.name} at scale {scale:g}"
    require_flag(ok, what)
    check_nonzero(sigma, what, dtype)
    u = np.asarray(u[:, :count])
    images = u.T.reshape(count, side, side)
    return images, np.asarray(sigma)


def dst_basis_2d(side: int, count: int) -> np.ndarray:
    """The first `count` 2-D sine basis images sin(πjx)·sin(πky), ordered by j² + k²."""
    x = np.arange(side) / side + 0.5 / side
    pairs = sorted(((j, k) for j in range(1, side + 1) for k in range(1, side + 1)),
                   key=lambda p: (p[0] ** 2 + p[1] ** 2, p))
    return np.stack([np.outer(np.sin(np.pi * k * x), np.sin(np.pi * j * x)) for j, k in pairs[:count]])
