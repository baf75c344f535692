"""Infinite-width NNGP and NTK of a deep MLP (docs/maths.md#infinite-width-kernels; seeds 001, 002).

Conventions (neural-tangents' ntk parameterisation, output width 1): inputs X (N × n₀),
  Σ¹ = σ_w²·X Xᵀ/n₀ + σ_b²,
  Σ^l = σ_w²·E[φ(u)φ(v)] + σ_b²,  Σ̇^l = σ_w²·E[φ'(u)φ'(v)]   (l ≥ 2),
  Θ¹ = Σ¹,  Θ^l = Σ^l + Θ^{l−1}·Σ̇^l,
with (u, v) ~ N(0, [[Σ(x,x), Σ(x,x')], [·, Σ(x',x')]]) from layer l − 1. Depth L counts weight
layers, so Θ^L is the NTK of the whole network, output layer included. The activation frequency s
enters as φ(s·t): (s·u, s·v) is Gaussian with covariance s²·Σ, so every closed form is evaluated
at (s²q₁, s²q₂, s²c) and E[φ'φ'] gains a factor s² (d/dt φ(s·t) = s·φ'(s·t)).

Pair expectations come from the activation's closed-form duals where it declares them
(engine/activations.py) or else from 2-D Gauss–Hermite quadrature, whose error is estimated by
comparing order n with 2n on probe entries (the diagonal and each row's most and least correlated
partner) and reported with the kernels.

Matrices are computed for the whole data set at once: closed forms are elementwise (O(N²) memory);
quadrature runs over symmetric tiles of rows × columns (O(N² + tile²·order²) memory), one tile at a
time inside one compiled program. Eigenvalues (condition numbers) use numpy's LAPACK in float64,
with the round-off floor of docs/maths.md#the-round-off-floor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Iterator, Sequence

from engine import backend

backend.configure()

import jax  # noqa: E402  (after float64 is on)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpy.polynomial.hermite import hermgauss  # noqa: E402

from engine import compiled, tiles  # noqa: E402
from engine.activations import Activation  # noqa: E402
from engine.data import check_data, require_finite  # noqa: E402
# Re-exported from their former home here, where ntktui and benchmarks import them.
from engine.errors import EngineError  # noqa: E402

DEFAULT_ORDER = 64
METHODS = ("auto", "closed", "quadrature")
# Product Gauss–Hermite weights below this (they sum to 1) are dropped: about half the 2-D grid
# at order 64, with a change far below round-off for any integrand of polynomial growth.
_PRUNE = 1e-25
# Elements of one quadrature tile (rows × columns × nodes) on a CPU; a GPU takes larger tiles.
_TILE_ELEMENTS_CPU = 2**21
_TILE_ELEMENTS_GPU = 2**25
# Entries per batch in the elementwise quadrature (probes, tests).
_ENTRY_ELEMENTS = 2**21

# What an activation without a derivative rules out here.
NNGP_ONLY = "its NTK does not exist; only its NNGP is defined"


# --- closed forms -----------------------------------------------------------------------------

def has_closed_form(act: Activation) -> bool:
    """True where `pair_expectations` uses the activation's closed-form duals, not quadrature."""
    return act.dual is not None


def _closed(act: Activation, q1, q2, c, scale, derivative: bool):
    """The duals at scale s: (s·u, s·v) has covariance s²·Σ, and d/dt φ(s·t) = s·φ'(s·t)."""
    s2 = scale * scale
    q1, q2, c = s2 * q1, s2 * q2, s2 * c
    e = act.dual(q1, q2, c)
    if not derivative:
        return e, None
    act.require_derivative(NNGP_ONLY)
    return e, s2 * act.dual_derivative(q1, q2, c)


@partial(jax.jit, static_argnames=("act", "derivative"))
def _closed_jit(act, q1, q2, c, scale, derivative):
    return _closed(act, q1, q2, c, scale, derivative)


def closed_form_expectations(act: Activation, q1, q2, c, scale=1.0, derivative: bool = True):
    """(E[φ(su)φ(sv)], E[d/du φ(su)·d/dv φ(sv)]) elementwise, by the activation's duals."""
    if not has_closed_form(act):
        raise EngineError(f"{act.name} has no closed form; use quadrature")
    if derivative:
        act.require_derivative(NNGP_ONLY)
    q1, q2, c = (jnp.asarray(t, jnp.float64) for t in (q1, q2, c))
    return _closed_jit(act, q1, q2, c, jnp.asarray(scale, jnp.float64), derivative)


# --- Gauss–Hermite quadrature -----------------------------------------------------------------

def _grid(order: int):
    """1-D nodes z and weights for E over N(0, 1); the pruned 2-D product grid as
    (index of z₁ in z, z₁, z₂, weight). Built once per order (in the engine's cache)."""
    return compiled.cached(("infinite.grid", int(order)), lambda: _build_grid(order))


# numpy's hermgauss overflows above order ~360 (its weights become inf/nan); above this order the
# nodes come from scipy's asymptotic Gauss–Hermite rule (scikit-learn's dependency), which agrees
# with numpy's to round-off where both work.
_NUMPY_MAX_ORDER = 150


def _build_grid(order: int):
    if order <= _NUMPY_MAX_ORDER:
        x, w = hermgauss(order)
        z, w = x * math.sqrt(2.0), w / math.sqrt(math.pi)
    else:
        from scipy.special import roots_hermitenorm

        z, w = roots_hermitenorm(order)
        w = w / w.sum()
    ww = np.outer(w, w)
    i1, i2 = np.nonzero(ww > _PRUNE)
    return z, w, i1, z[i1], z[i2], ww[i1, i2]


def _rho(q1, q2, c):
    """ρ clipped to [−1, 1] and √(1 − ρ²); ρ = 0 where a variance is zero."""
    p = jnp.sqrt(q1 * q2)
    rho = jnp.where(p > 0, jnp.clip(c / jnp.where(p > 0, p, 1.0), -1.0, 1.0), 0.0)
    return rho, jnp.sqrt(jnp.maximum((1.0 - rho) * (1.0 + rho), 0.0))


def _quad_entries(act, q1, q2, c, scale, order, derivative):
    """Elementwise quadrature over 1-D arrays of entries (P,): u = √q₁z₁, v = √q₂(ρz₁ + √(1−ρ²)z₂)."""
    z, _, i1, z1, z2, w = _grid(order)
    rho, srho = _rho(q1, q2, c)
    u = jnp.sqrt(q1)[:, None] * z  # (P, order): u depends on z₁ only
    v = jnp.sqrt(q2)[:, None] * (rho[:, None] * z1 + srho[:, None] * z2)
    e = (act.apply(u, scale)[:, i1] * act.apply(v, scale)) @ w
    if not derivative:
        return e, None
    return e, (act.derivative(u, scale)[:, i1] * act.derivative(v, scale)) @ w


_quad_entries_jit = jax.jit(_quad_entries, static_argnames=("act", "order", "derivative"))


def quadrature_expectations(
    act: Activation, q1, q2, c, scale=1.0, order: int = DEFAULT_ORDER, derivative: bool = True
):
    """(E[φφ], E[φ'φ']) elementwise over broadcast arrays, by 2-D Gauss–Hermite of this order."""
    _check_order(order)
    if derivative:
        act.require_derivative(NNGP_ONLY)
    q1, q2, c = jnp.broadcast_arrays(*(jnp.asarray(t, jnp.float64) for t in (q1, q2, c)))
    shape = q1.shape
    q1, q2, c = q1.ravel(), q2.ravel(), c.ravel()
    n = q1.shape[0]
    batches = -(-n // max(1, _ENTRY_ELEMENTS // len(_grid(order)[5])))
    batch = max(1, -(-n // batches))  # equal batches: little padding
    pad = (-n) % batch
    if pad:  # a fixed batch shape compiles once
        q1, q2 = jnp.pad(q1, (0, pad), constant_values=1.0), jnp.pad(q2, (0, pad), constant_values=1.0)
        c = jnp.pad(c, (0, pad))
    scale = jnp.asarray(scale, jnp.float64)
    es, ds = [], []
    for k in range(0, n + pad, batch):
        e, d = _quad_entries_jit(act, q1[k:k + batch], q2[k:k + batch], c[k:k + batch], scale,
                                 order, derivative)
        es.append(e)
        ds.append(d)
    e = jnp.concatenate(es)[:n].reshape(shape)
    return e, (jnp.concatenate(ds)[:n].reshape(shape) if derivative else None)


def quadrature_error(
    act: Activation, q1, q2, c, scale=1.0, order: int = DEFAULT_ORDER, derivative: bool = True
) -> tuple[float, float | None]:
    """Largest |E_order − E_2·order| over the entries, for E[φφ] and E[φ'φ']: the error estimate."""
    e1, d1 = quadrature_expectations(act, q1, q2, c, scale, order, derivative)
    e2, d2 = quadrature_expectations(act, q1, q2, c, scale, 2 * order, derivative)
    de = float(jnp.max(jnp.abs(e1 - e2)))
    return de, (float(jnp.max(jnp.abs(d1 - d2))) if derivative else None)


def pair_expectations(
    act: Activation, q1, q2, c, scale=1.0, method: str = "auto", order: int = DEFAULT_ORDER,
    derivative: bool = True,
):
    """(E[φ(su)φ(sv)], E[d/du φ(su)·d/dv φ(sv)]) elementwise; closed form where one exists
    (method "auto"), else quadrature. The second is None when derivative=False."""
    if _use_closed(act, method):
        return closed_form_expectations(act, q1, q2, c, scale, derivative)
    return quadrature_expectations(act, q1, q2, c, scale, order, derivative)


def _use_closed(act: Activation, method: str) -> bool:
    if method not in METHODS:
        raise EngineError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if method == "closed" and not has_closed_form(act):
        raise EngineError(f"{act.name} has no closed form; use method auto or quadrature")
    return method != "quadrature" and has_closed_form(act)


def _check_order(order: int) -> None:
    if not isinstance(order, (int, np.integer)) or order < 2:
        raise EngineError(f"the quadrature order must be an integer ≥ 2, got {order!r}")


# --- whole-data-set kernels -------------------------------------------------------------------

def input_covariance(X, sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> jnp.ndarray:
    """Σ¹ = σ_w²·X Xᵀ/n₀ + σ_b² (N × N)."""
    X = jnp.asarray(X, jnp.float64)
    return sigma_w2 * (X @ X.T) / X.shape[1] + sigma_b2


def _tile_size(n: int, order: int) -> int:
    budget = _TILE_ELEMENTS_CPU if jax.default_backend() == "cpu" else _TILE_ELEMENTS_GPU
    return max(1, min(n, math.isqrt(max(1, budget // len(_grid(order)[5])))))


def _quad_matrix(act, sigma, scale, order, block, derivative):
    """(E[φφ], E[φ'φ']) for every pair of rows of Σ, over the upper triangle of block × block
    tiles (one at a time: lax.map), mirrored so the result is exactly symmetric."""
    z, _, i1, z1, z2, w = _grid(order)
    n = sigma.shape[0]
    t = -(-n // block)
    npad = t * block
    q = jnp.pad(jnp.diagonal(sigma), (0, npad - n), constant_values=1.0)
    sig = jnp.pad(sigma, ((0, npad - n), (0, npad - n)))
    ti, tj = np.triu_indices(t)

    def tile(ij):
        i, j = ij
        qr = jax.lax.dynamic_slice(q, (i * block,), (block,))
        qc = jax.lax.dynamic_slice(q, (j * block,), (block,))
        c = jax.lax.dynamic_slice(sig, (i * block, j * block), (block, block))
        rho, srho = _rho(qr[:, None], qc[None, :], c)
        ur = jnp.sqrt(qr)[:, None] * z  # (B, n): u depends on z₁ only, so φ(u) is computed once
        v = jnp.sqrt(qc)[None, :, None] * (rho[..., None] * z1 + srho[..., None] * z2)
        e = jnp.einsum("bm,bcm->bc", act.apply(ur, scale)[:, i1] * w, act.apply(v, scale))
        if not derivative:
            return e
        d = jnp.einsum("bm,bcm->bc", act.derivative(ur, scale)[:, i1] * w,
                       act.derivative(v, scale))
        return e, d

    tiles = jax.lax.map(tile, (jnp.asarray(ti), jnp.asarray(tj)))
    r = jnp.arange(npad)
    upper = r[:, None] <= r[None, :]

    def assemble(x):
        full = jnp.zeros((t, t, block, block), x.dtype).at[ti, tj].set(x)
        full = full.transpose(0, 2, 1, 3).reshape(npad, npad)
        return jnp.where(upper, full, full.T)[:n, :n]

    if not derivative:
        return assemble(tiles), None
    return assemble(tiles[0]), assemble(tiles[1])


@partial(jax.jit, static_argnames=("padded",))
def _pad(sigma, theta, padded):
    """Σ and Θ padded with zeros to whole tiles, and the variances q = diag Σ (1 in the padding,
    where any finite value will do: those rows are sliced off)."""
    n = sigma.shape[0]
    q = jnp.pad(jnp.diagonal(sigma), (0, padded - n), constant_values=1.0)
    grow = lambda m: None if m is None else jnp.pad(m, ((0, padded - n), (0, padded - n)))  # noqa: E731
    return grow(sigma), grow(theta), q


@partial(jax.jit, static_argnames=("act", "derivative", "tile"))
def _closed_tile(act, sigma, theta, q, i, j, scale, sw2, sb2, derivative, tile):
    """Tile (i, j) of (Σ^l, Θ^l) from the padded (Σ^{l−1}, Θ^{l−1}) by the closed forms."""
    r, c = i * tile, j * tile
    cut = lambda m: jax.lax.dynamic_slice(m, (r, c), (tile, tile))  # noqa: E731
    qr = jax.lax.dynamic_slice(q, (r,), (tile,))
    qc = jax.lax.dynamic_slice(q, (c,), (tile,))
    e, d = _closed(act, qr[:, None], qc[None, :], cut(sigma), scale, derivative)
    new_sigma = sw2 * e + sb2
    return new_sigma, (new_sigma + cut(theta) * (sw2 * d) if derivative else None)


@dataclass(frozen=True)
class _ClosedStep:
    """One layer of the closed-form recursion over the upper tiles of the kernel, each tile one
    call (engine/tiles.py): half the elementwise work of the whole matrix, and a progress step
    (a chance to cancel) per tile. Programs compiled ahead of time."""

    n: int
    tile: int
    pad: object
    tile_program: object
    assemble: object

    @property
    def steps(self) -> int:
        return tiles.upper_count(tiles.count(self.n, self.tile)) + 2

    def __call__(self, sigma, theta, scale, sw2, sb2, tick=None):
        t = tiles.count(self.n, self.tile)
        sig, th, q = self.pad(sigma, theta)
        _step_done(tick, q)
        new_s, new_t = [], []
        for i, j in tiles.upper(t):
            a, b = self.tile_program(sig, th, q, jnp.asarray(i), jnp.asarray(j), scale, sw2, sb2)
            new_s.append(a)
            new_t.append(b)
            _step_done(tick, a)
        del sig, th
        sigma = self.assemble(tuple(new_s))
        theta = None if new_t[0] is None else self.assemble(tuple(new_t))
        _step_done(tick, sigma)
        return sigma, theta


def _step_done(tick, out):
    if tick is not None:
        tick.step(out)


@partial(jax.jit, static_argnames=("act", "derivative", "order", "block"))
def _quad_step(act, sigma, theta, scale, sw2, sb2, derivative, order, block):
    e, d = _quad_matrix(act, sigma, scale, order, block, derivative)
    new_sigma = sw2 * e + sb2
    return new_sigma, (new_sigma + theta * (sw2 * d) if derivative else None)


# Probe pairs of the error estimate: at most this many (their recursion runs at 2n and 4n).
_MAX_PROBES = 1024
# Quantiles of the off-diagonal correlation that are probed besides each row's extremes.
_RHO_QUANTILES = 65
# The adaptive order (--tolerance) stops doubling here: its check at 4n is then order 1024.
MAX_ADAPTIVE_ORDER = 256


def probe_pairs(sigma) -> np.ndarray:
    """Pairs (i, j) whose entries the error estimate recomputes at higher order: every diagonal
    entry (the largest), each row's most and least correlated partner (|ρ| → 1, where
    Gauss–Hermite converges slowest) and pairs at evenly spaced quantiles of ρ (the error is a
    smooth function of (q_i, q_j, ρ_ij) between them). The infinite-width recursion is entrywise,
    so these entries can be followed through every layer alone. At most _MAX_PROBES pairs."""
    sigma = np.asarray(sigma, np.float64)
    n = sigma.shape[0]
    q = np.diagonal(sigma)
    p = np.sqrt(np.outer(q, q))
    rho = np.divide(sigma, p, out=np.zeros_like(sigma), where=p > 0)
    rows = np.arange(n)
    if n > _MAX_PROBES // 4:  # a spread of rows, the extreme variances included
        keep = np.unique(np.r_[np.linspace(0, n - 1, _MAX_PROBES // 4).astype(int),
                               np.argmax(q), np.argmin(q)])
        rows = keep
    pairs = [np.c_[rows, rows]]
    if n > 1:
        off = np.where(np.eye(n, dtype=bool), np.nan, rho)
        pairs += [np.c_[rows, np.nanargmax(off[rows], axis=1)],
                  np.c_[rows, np.nanargmin(off[rows], axis=1)]]
        iu = np.triu_indices(n, 1)
        order = np.argsort(rho[iu], kind="stable")
        pick = order[np.linspace(0, order.size - 1, min(_RHO_QUANTILES, order.size)).astype(int)]
        pairs.append(np.c_[iu[0][pick], iu[1][pick]])
    return np.unique(np.concatenate(pairs), axis=0)


def _probe_recursion(act, sigma1, pairs, scale, sw2, sb2, depth, order, ntk):
    """Σ^l, Σ̇^l and Θ^l of the probe pairs for l = 1..depth at one quadrature order, each entry
    followed through the layers alone: lists of arrays (P,) per layer (Σ̇ and Θ None without
    the NTK)."""
    i, j = pairs[:, 0], pairs[:, 1]
    sigma1 = np.asarray(sigma1, np.float64)
    qa, qb, c = (jnp.asarray(v) for v in (sigma1[i, i], sigma1[j, j], sigma1[i, j]))
    theta = c if ntk else None
    out = [(c, None, theta)]
    for _ in range(2, depth + 1):
        ea, _ = quadrature_expectations(act, qa, qa, qa, scale, order, derivative=False)
        eb, _ = quadrature_expectations(act, qb, qb, qb, scale, order, derivative=False)
        e, d = quadrature_expectations(act, qa, qb, c, scale, order, derivative=ntk)
        qa, qb, c = sw2 * ea + sb2, sw2 * eb + sb2, sw2 * e + sb2
        dot = sw2 * d if ntk else None
        theta = c + theta * dot if ntk else None
        out.append((c, dot, theta))
    return out


@dataclass(frozen=True)
class QuadError:
    """Quadrature error bound of one layer, for the kernels computed at `order`.

    The probe entries (`probe_pairs`) are followed through every layer at orders n, 2n and 4n
    (`check_order`), so errors carried from earlier layers are included exactly rather than to
    first order. With d₁ = max|X_n − X_2n| and d₂ = max|X_2n − X_4n| for each kernel X, the error
    of X_n is at most d₁ + 2d₂ when the differences contract at least by half per doubling
    (err_4n ≤ d₂); the bound reported is twice that (the entries between probes) plus the
    round-off of the sums. Where d₂ > d₁/2 the rule is not converging at this order and the bound
    is unresolved: the `_abs` and `_rel` fields are None and `resolved` is False (docs/maths.md
    #quadrature-error-bounds). `sigma_*` bound Σ^l, `dot_*` Σ̇^l and `ntk_abs` Θ^l, absolute and
    relative to the largest probed magnitude (the diagonal's, by Cauchy–Schwarz)."""

    depth: int
    order: int
    check_order: int
    sigma_abs: float | None
    sigma_rel: float | None
    dot_abs: float | None
    dot_rel: float | None
    ntk_abs: float | None
    resolved: bool = True
    ntk_rel: float | None = None
    tolerance: float | None = None
    tolerance_met: bool | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# Round-off of a Gauss–Hermite sum of up to ~10⁶ products and of the recursion, relative to the
# kernel's size (measured: ~1e-15 at order 256): differences below it say nothing about
# convergence, and no bound is reported below it.
_ROUNDOFF = 1e-13


def _bound(x1, x2, x4) -> tuple[float | None, float]:
    """(the conservative error bound of x1 — None if not converging —, max |x4|)."""
    d1 = float(jnp.max(jnp.abs(x1 - x2)))
    d2 = float(jnp.max(jnp.abs(x2 - x4)))
    size = float(jnp.max(jnp.abs(x4)))
    if d2 > 0.5 * d1 and d2 > _ROUNDOFF * size:
        return None, size
    return 2.0 * (d1 + 2.0 * d2) + _ROUNDOFF * size, size


def _rel(abs_, size):
    if abs_ is None:
        return None
    return abs_ / size if size > 0 else math.inf


def quadrature_bounds(act, sigma1, scale, sw2, sb2, depth, order, ntk,
                      tolerance: float | None = None) -> tuple[int, list[QuadError]]:
    """The order to use and each layer's error bound (layers 2..depth). With a tolerance, the
    order doubles (up to MAX_ADAPTIVE_ORDER, never below the given one) until the relative NTK
    bound of the deepest layer (the NNGP's without the NTK) is at most the tolerance; if that
    cannot be reached, the last bounds are returned with tolerance_met False."""
    pairs = probe_pairs(sigma1)
    args = (act, sigma1, pairs, scale, sw2, sb2, depth)
    runs = {}

    def run(n):
        if n not in runs:
            runs[n] = _probe_recursion(*args, n, ntk)
        return runs[n]

    while True:
        r1, r2, r4 = run(order), run(2 * order), run(4 * order)
        errors = []
        for l in range(2, depth + 1):
            (s1, d1, t1), (s2, d2, t2), (s4, d4, t4) = r1[l - 1], r2[l - 1], r4[l - 1]
            sa, ssize = _bound(s1, s2, s4)
            da = ta = None
            dsize = tsize = 0.0
            if ntk:
                da, dsize = _bound(d1, d2, d4)
                ta, tsize = _bound(t1, t2, t4)
            resolved = sa is not None and (not ntk or (da is not None and ta is not None))
            errors.append(QuadError(l, order, 4 * order, sa, _rel(sa, ssize),
                                    da if ntk else None, _rel(da, dsize) if ntk else None,
                                    ta, resolved, _rel(ta, tsize) if ntk else None))
        last = errors[-1] if errors else None
        rel = None if last is None else (last.ntk_rel if ntk else last.sigma_rel)
        met = None if tolerance is None or last is None else (rel is not None and rel <= tolerance)
        if met is False and 2 * order <= max(MAX_ADAPTIVE_ORDER, order) and 2 * order <= MAX_ADAPTIVE_ORDER:
            order *= 2
            continue
        if tolerance is not None:
            from dataclasses import replace

            errors = [replace(e, tolerance=tolerance, tolerance_met=met) for e in errors]
        return order, errors


@dataclass(frozen=True)
class Layer:
    """Kernels after `depth` weight layers: the NNGP Σ^depth and the NTK Θ^depth (None for the
    NNGP alone); `error` is the quadrature estimate for this layer (None for closed forms)."""

    depth: int
    nngp: jnp.ndarray
    ntk: jnp.ndarray | None
    error: QuadError | None = None


def _check_network(X, act, depth, sigma_w2, sigma_b2, scale, order, ntk) -> jnp.ndarray:
    X = jnp.asarray(check_data(X), jnp.float64)
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise EngineError(f"depth must be an integer ≥ 1, got {depth!r}")
    if not (math.isfinite(sigma_w2) and sigma_w2 > 0):
        raise EngineError(f"σ_w² must be a positive number, got {sigma_w2}")
    if not (math.isfinite(sigma_b2) and sigma_b2 >= 0):
        raise EngineError(f"σ_b² must be a non-negative number, got {sigma_b2}")
    if not math.isfinite(scale):
        raise EngineError(f"scale must be a finite number, got {scale}")
    _check_order(order)
    if ntk:
        act.require_derivative(NNGP_ONLY)
    return X


@dataclass(frozen=True)
class _QuadStep:
    """One layer by quadrature: one program over the upper quadrature tiles (`_quad_matrix`)."""

    program: object

    steps = 1

    def __call__(self, sigma, theta, scale, sw2, sb2, tick=None):
        out = self.program(sigma, theta, scale, sw2, sb2)
        _step_done(tick, out)
        return out


def _step(act, n: int, ntk: bool, closed: bool, order: int):
    """The compiled per-layer step (Σ^{l−1}, Θ^{l−1}, s, σ_w², σ_b²[, tick]) ↦ (Σ^l, Θ^l) for n
    inputs, from the engine's cache."""
    mat = jax.ShapeDtypeStruct((n, n), jnp.float64)
    num = jax.ShapeDtypeStruct((), jnp.float64)
    theta = mat if ntk else None
    if not closed:
        return _QuadStep(compiled.program(("infinite.quad_step",), _quad_step, act, mat, theta,
                                          num, num, num, derivative=ntk, order=order,
                                          block=_tile_size(n, order)))
    tile = tiles.tile_size(n, jax.default_backend())
    padded = tiles.count(n, tile) * tile
    pmat = jax.ShapeDtypeStruct((padded, padded), jnp.float64)
    index = jax.ShapeDtypeStruct((), jnp.asarray(0).dtype)
    square = jax.ShapeDtypeStruct((tile, tile), jnp.float64)
    return _ClosedStep(
        n, tile,
        compiled.program(("infinite.pad",), _pad, mat, theta, padded=padded),
        compiled.program(("infinite.closed_tile",), _closed_tile, act, pmat, pmat if ntk else None,
                         jax.ShapeDtypeStruct((padded,), jnp.float64), index, index, num, num,
                         num, derivative=ntk, tile=tile),
        compiled.program(("tiles.assemble",), tiles.assemble,
                         (square,) * tiles.upper_count(tiles.count(n, tile)), n=n))


def layers(
    X, act: Activation, depth: int, *, sigma_w2: float = 1.0, sigma_b2: float = 0.0,
    scale: float = 1.0, ntk: bool = True, method: str = "auto", order: int = DEFAULT_ORDER,
    check_error: bool = True, tolerance: float | None = None, progress=None,
) -> Iterator[Layer]:
    """Σ^l and Θ^l for l = 1..depth in one pass (a generator: hold only the layers you need).

    ntk=False computes the NNGP alone (defined for heaviside too). With quadrature, each layer
    carries its error bound unless check_error=False (`quadrature_bounds`: probe entries followed
    through every layer at orders n, 2n, 4n, computed before the first layer). A tolerance
    (relative, of the deepest NTK) raises the order until the bound meets it, where it can.
    Closed forms are evaluated on the upper tiles of each layer only; progress(done, total) is
    called after each tile (a cancel raised there stops between tiles).
    """
    X = _check_network(X, act, depth, sigma_w2, sigma_b2, scale, order, ntk)
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise EngineError(f"the tolerance must be a positive number, got {tolerance}")
    closed = _use_closed(act, method)
    n = X.shape[0]
    top = max(order, MAX_ADAPTIVE_ORDER) if tolerance is not None else order
    backend.check_fits(f"the infinite-width kernels of {n} inputs",
                       memory_bytes(n, act, method, top))
    s, sw2, sb2 = (jnp.asarray(v, jnp.float64) for v in (scale, sigma_w2, sigma_b2))
    sigma = input_covariance(X, sigma_w2, sigma_b2)
    theta = sigma if ntk else None
    errors: list = [None] * (depth + 1)
    if not closed and depth > 1 and (check_error or tolerance is not None):
        order, bounds = quadrature_bounds(act, sigma, s, sigma_w2, sigma_b2, depth, order, ntk,
                                          tolerance)
        for e in bounds:
            errors[e.depth] = e
    yield Layer(1, sigma, theta)
    step = _step(act, n, ntk, closed, order) if depth > 1 else None
    tick = tiles.Ticker((depth - 1) * (step.steps if step else 0), progress)
    for l in range(2, depth + 1):
        sigma, theta = step(sigma, theta, s, sw2, sb2, tick)
        tick.finish()
        yield Layer(l, sigma, theta, errors[l])


def memory_bytes(n: int, act: Activation, method: str = "auto", order: int = DEFAULT_ORDER) -> int:
    """Bytes `layers` needs for n inputs: six N × N float64 matrices, plus one quadrature tile."""
    if _use_closed(act, method):
        return 8 * 6 * n * n
    block = _tile_size(n, order)
    return 8 * (6 * n * n + 4 * block * block * len(_grid(order)[5]))


def compile_layers(
    X, act: Activation, depth: int, *, sigma_w2: float = 1.0, sigma_b2: float = 0.0,
    scale: float = 1.0, ntk: bool = True, method: str = "auto", order: int = DEFAULT_ORDER,
) -> float:
    """Compile the per-layer step of `layers` for this data set's size ahead of time and return
    the seconds it took (0 for depth 1, which has no step, and when it is already compiled).
    Later calls of `layers`, `kernels`, `condition_by_depth` with the same size take it from the
    engine's cache, so a front end can report compile and compute time apart. The quadrature
    error probes compile on first use, not here."""
    X = _check_network(X, act, depth, sigma_w2, sigma_b2, scale, order, ntk)
    closed = _use_closed(act, method)
    if depth < 2:
        return 0.0
    start = time.perf_counter()
    _step(act, X.shape[0], ntk, closed, order)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Kernels:
    """NNGP and NTK of a depth-L network on the whole data set, with the per-layer quadrature
    error estimates (empty for closed forms)."""

    depth: int
    nngp: jnp.ndarray
    ntk: jnp.ndarray | None
    errors: tuple[QuadError, ...] = ()


def kernels(X, act: Activation, depth: int, **options) -> Kernels:
    """Σ^L and Θ^L for depth L (options as for `layers`)."""
    errors, last = [], None
    for layer in layers(X, act, depth, **options):
        last = layer
        if layer.error is not None:
            errors.append(layer.error)
    return Kernels(depth, last.nngp, last.ntk, tuple(errors))


def nngp(X, act: Activation, depth: int, **options) -> jnp.ndarray:
    """Σ^L alone (defined for activations without a derivative, such as heaviside)."""
    return kernels(X, act, depth, ntk=False, **options).nngp


def ntk_by_depth(X, act: Activation, depth: int, **options) -> jnp.ndarray:
    """Θ^l for l = 1..depth stacked (depth × N × N; memory grows with depth: prefer `layers`)."""
    return jnp.stack([layer.ntk for layer in layers(X, act, depth, **options)])


def condition_by_depth(X, act: Activation, depth: int, kernel: str = "ntk", **options):
    """The condition number of Θ^l (or Σ^l with kernel="nngp") for l = 1..depth, in one pass."""
    if kernel not in ("ntk", "nngp"):
        raise EngineError(f"unknown kernel {kernel!r}; choose ntk or nngp")
    options.setdefault("ntk", kernel == "ntk")
    return [condition(layer.ntk if kernel == "ntk" else layer.nngp)
            for layer in layers(X, act, depth, **options)]


# --- spectra and angles -----------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """κ = λ_max/λ_min of a symmetric kernel matrix. λ_min is resolved only above the round-off
    floor N·ε·λ_max (docs/maths.md#the-round-off-floor); below it `lam_min` and `kappa` are None
    and κ is only known to be at least `kappa_at_least` = λ_max/floor."""

    n: int
    lam_max: float
    lam_min: float | None
    kappa: float | None
    floor: float
    eps: float

    @property
    def resolved(self) -> bool:
        return self.kappa is not None

    @property
    def kappa_at_least(self) -> float:
        return self.kappa if self.kappa is not None else 1.0 / (self.n * self.eps)


def condition(K) -> Condition:
    """Condition number with the round-off floor, from the one kernel-spectrum routine
    (`engine.ntk.kernel_spectrum`: eigenvalues in float64, ε of K's dtype)."""
    from engine.ntk import kernel_spectrum

    K = np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 1:
        raise EngineError(f"a kernel matrix must be square, got shape {K.shape}")
    dtype = K.dtype if np.issubdtype(K.dtype, np.floating) else np.dtype(np.float64)
    s = kernel_spectrum(K, dtype)
    return Condition(K.shape[0], s.lambda_max, s.lambda_min, s.condition, s.floor,
                     float(np.finfo(dtype).eps))


def feature_cosines(K) -> np.ndarray:
    """cos ∠(∇f(x_i), ∇f(x_j)) = K_ij/√(K_ii K_jj) for every pair (seed 002)."""
    K = np.asarray(K, np.float64)
    d = np.sqrt(np.diagonal(K))
    if np.any(d <= 0):
        raise EngineError("a kernel with a zero diagonal entry has no feature angle there")
    return np.clip(K / np.outer(d, d), -1.0, 1.0)


def pair_angles(K, pairs) -> np.ndarray:
    """The angle (radians) between the gradient features of each pair (i, j) of rows."""
    pairs = np.asarray(pairs, int).reshape(-1, 2)
    K = np.asarray(K, np.float64)
    require_finite(K, f"the {K.shape[0]} × {K.shape[0]} kernel")
    i, j = pairs[:, 0], pairs[:, 1]
    kii, kjj = K[i, i], K[j, j]
    if np.any(kii <= 0) or np.any(kjj <= 0):
        raise EngineError("a kernel with a zero diagonal entry has no feature angle there")
    return np.arccos(np.clip(K[i, j] / np.sqrt(kii * kjj), -1.0, 1.0))


# --- edge of chaos for abrelu(a, b) (seed 001) ------------------------------------------------

def abrelu_params(act: Activation, scale: float = 1.0) -> tuple[float, float]:
    """(a, b) with φ(s·t) = a·t + b·|t|: relu is (½, ½), abs (0, 1), linear (1, 0)."""
    if act.name == "relu":
        a, b = 0.5, 0.5
    elif act.family == "abrelu" and len(act.params) == 2:
        a, b = act.params
    else:
        raise EngineError(f"the edge of chaos is defined here for abrelu(a,b) only, not {act.name}")
    return a * scale, b * abs(scale)


def _check_ab(a: float, b: float) -> None:
    if not (math.isfinite(a) and math.isfinite(b)) or a * a + b * b == 0:
        raise EngineError(f"abrelu(a,b) needs finite a, b with a² + b² > 0, got a={a}, b={b}")


def eoc_sigma_w2(a: float, b: float) -> float:
    """σ_w² at the edge of chaos of abrelu(a, b) with σ_b = 0: 1/(a² + b²)."""
    _check_ab(a, b)
    return 1.0 / (a * a + b * b)


def delta_phi(a: float, b: float) -> float:
    """Δφ = b²/(a² + b²): 0 for linear, ½ for relu, 1 for abs."""
    _check_ab(a, b)
    return b * b / (a * a + b * b)


def correlation_map(rho, delta: float):
    """ρ ↦ (1 − Δφ)ρ + Δφ·(2/π)(√(1−ρ²) + ρ·arcsin ρ): the NNGP correlation one layer on."""
    rho = np.clip(np.asarray(rho, np.float64), -1.0, 1.0)
    return (1 - delta) * rho + delta * (2 / np.pi) * (np.sqrt((1 - rho) * (1 + rho)) + rho * np.arcsin(rho))


def derivative_map(rho, delta: float):
    """ρ ↦ (1 − Δφ) + Δφ·(2/π)·arcsin ρ: Σ̇/q one layer on."""
    rho = np.clip(np.asarray(rho, np.float64), -1.0, 1.0)
    return (1 - delta) + delta * (2 / np.pi) * np.arcsin(rho)


@dataclass(frozen=True)
class EOCIterates:
    """At the edge of chaos, for input correlation ρ¹ (arrays: depth × shape of ρ¹):
    rho[l−1] = ρ^l (NNGP correlation), chi[l−1] = Σ̇^l/q (chi[0] = 1 by convention: Θ¹ = Σ¹),
    ntk_rho[l−1] = Θ^l(x,x')/Θ^l(x,x), using Θ^l(x,x) = l·q."""

    rho: np.ndarray
    chi: np.ndarray
    ntk_rho: np.ndarray


def eoc_iterates(rho0, delta: float, depth: int) -> EOCIterates:
    """The correlation and derivative maps iterated over depth 1..depth from ρ¹ = rho0."""
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise EngineError(f"depth must be an integer ≥ 1, got {depth!r}")
    rho = np.clip(np.asarray(rho0, np.float64), -1.0, 1.0)
    rhos, chis, ntks = [rho], [np.ones_like(rho)], [rho]
    for l in range(2, depth + 1):
        chi = derivative_map(rhos[-1], delta)
        rho = correlation_map(rhos[-1], delta)
        ntks.append((rho + (l - 1) * ntks[-1] * chi) / l)
        rhos.append(rho)
        chis.append(chi)
    return EOCIterates(np.stack(rhos), np.stack(chis), np.stack(ntks))


__all__: Sequence[str] = (
    "DEFAULT_ORDER", "METHODS", "has_closed_form", "closed_form_expectations",
    "quadrature_expectations", "quadrature_error", "pair_expectations", "input_covariance",
    "QuadError", "Layer", "layers", "memory_bytes", "compile_layers", "Kernels", "kernels", "nngp", "ntk_by_depth",
    "condition_by_depth", "Condition", "condition", "feature_cosines", "pair_angles",
    "abrelu_params", "eoc_sigma_w2", "delta_phi", "correlation_map", "derivative_map",
    "EOCIterates", "eoc_iterates",
)
