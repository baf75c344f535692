"""Spectra of the empirical NTK without forming it (docs/models.md).

K = J Jᵀ acts on a block of vectors V as J (Jᵀ V): one reverse pass over the data, summing the
parameter-space vectors Jᵀ V block of samples by block, then one forward (tangent) pass, block by
block. Memory is O(rows · width · b + b · P) per product, whatever N; K is never formed.

On top of the products:
- `eigsh`: the top (or bottom) eigenpairs by block Lanczos with full reorthogonalisation and
  Rayleigh–Ritz on the stored products, each Ritz pair (θ, u) with its residual ‖Ku − θu‖, a
  bound: some eigenvalue of K lies within it of θ;
- `lambda_min`: the bottom Ritz pair, "not converged" with its bound where the residual is large;
- `exact_trace`: tr K = Σ_i ‖∇_θ f(x_i)‖², from per-sample gradients;
- `density`: the eigenvalue density by stochastic Lanczos quadrature, with its sampling error.

The Krylov bases live on the host in float64 (numpy); only the products run on the device.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

from engine import backend, distributed
from engine.errors import EngineError, InsufficientMemory

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from engine.models import Model, _as_rows, as_model, check_per_sample, forward_profile  # noqa: E402
from engine.backend import roundoff_floor  # noqa: E402
from engine.data import require_finite  # noqa: E402

# What one product's temporaries may take (the row block is sized to it).
PRODUCT_BUDGET = 256 * 1024**2


# --- the operator ---------------------------------------------------------------------------

def _cotangents(model: Model, full: bool, params, state, xb, V):
    """V as cotangents of the outputs: (blocks, rows, k, m), each trace vector v becoming k
    cotangents v ⊗ e_o, one per output."""
    k = jax.eval_shape(lambda x: _as_rows(model.fn(params, state, x), x), xb[0]).shape[1]
    if full:
        return V, k
    eye = jnp.eye(k, dtype=V.dtype)
    return jnp.einsum("nrb,op->nrobp", V, eye).reshape(*V.shape[:2], k, -1), k


def _pull(model: Model, full: bool, params, state, xb, V):
    """Jᵀ V over these blocks of samples: one parameter-space vector per cotangent (leaves
    (m, …)). Summed over several devices' blocks it is the whole Jᵀ V."""
    C, _ = _cotangents(model, full, params, state, xb, V)

    def pull(G, xc):
        xr, c = xc
        _, vjp = jax.vjp(lambda p: _as_rows(model.fn(p, state, xr), xr), params)
        g = jax.vmap(lambda ci: vjp(ci)[0], in_axes=2)(c)
        return jax.tree.map(jnp.add, G, g), None

    G0 = jax.tree.map(lambda a: jnp.zeros((C.shape[-1], *a.shape), a.dtype), params)
    return lax.scan(pull, G0, (xb, C))[0]


def _push(model: Model, full: bool, params, state, xb, G, V):
    """J G on these blocks of samples: the rows of K V they hold, shaped as V."""
    k = jax.eval_shape(lambda x: _as_rows(model.fn(params, state, x), x), xb[0]).shape[1]

    def push(xr):
        f = lambda p: _as_rows(model.fn(p, state, xr), xr)  # noqa: E731
        return jax.vmap(lambda t: jax.jvp(f, (params,), (t,))[1], out_axes=2)(G)  # (rows, k, m)

    out = lax.map(push, xb)  # (blocks, rows, k, m)
    if full:
        return out
    out = out.reshape(*out.shape[:3], -1, k)  # (blocks, rows, k_out, b, k_in)
    return jnp.einsum("nrobo->nrb", out)


def _product(model: Model, full: bool, params, state, xb, V):
    """K V for V of shape (blocks, rows, b) (trace: K = Σ_o J_o J_oᵀ) or (blocks, rows, k, b)."""
    return _push(model, full, params, state, xb, _pull(model, full, params, state, xb, V), V)


class KernelOperator:
    """The empirical NTK of `model` on x as a linear operator on (size, b) arrays, size = N
    (outputs="trace": K = Σ_o J_o J_oᵀ) or N·k ("full", index sample·k + output).
    Data and parameters are arguments of the compiled product, never constants in it."""

    def __init__(self, model, x, *, outputs: str = "trace", rows: int | None = None,
                 dtype="float64", check: bool = True):
        if outputs not in ("trace", "full"):
            raise EngineError(f"unknown outputs {outputs!r}; choose one of: trace, full")
        self.dtype = jnp.dtype(dtype)
        self.model = as_model(model).astype(self.dtype)
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] < 1 or not np.all(np.isfinite(x)):
            raise EngineError(f"data must be a finite batch (N × …), got shape {x.shape}")
        self.samples = x.shape[0]
        xj = jnp.asarray(x, self.dtype)
        self.k = check_per_sample(self.model, xj) if check else int(self.model.apply(xj[:1]).shape[1])
        self.full = outputs == "full" and self.k > 1
        self.outputs = outputs
        self.size = self.samples * (self.k if self.full else 1)
        self.forward_flops, self.activation_bytes = forward_profile(self.model, x.shape[1:], self.dtype)
        self.rows = int(rows) if rows else None
        self._x = xj
        self._layout: dict = {}
        self._compiled: dict = {}
        self.products = 0  # vectors multiplied so far
        self.product_s = 0.0

    @property
    def parameter_count(self) -> int:
        return self.model.parameter_count

    def _rows_for(self, b: int) -> int:
        if self.rows:
            return min(self.rows, self.samples)
        m = b * self.k
        per_row = 3 * m * self.activation_bytes + self.activation_bytes
        return int(max(1, min(self.samples, PRODUCT_BUDGET // max(per_row, 1))))

    def _blocks(self, rows: int):
        if rows not in self._layout:
            nb = math.ceil(self.samples / rows)
            if distributed.active():  # whole blocks per device of every process
                nb = math.ceil(nb / distributed.device_count()) * distributed.device_count()
            pad = nb * rows - self.samples
            x = self._x
            if pad:
                x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))])
            self._layout[rows] = x.reshape(nb, rows, *x.shape[1:])
        return self._layout[rows]

    def compiled(self, b: int):
        """The product for blocks of b vectors, compiled ahead of time, and XLA's bytes for it."""
        if b not in self._compiled:
            rows = self._rows_for(b)
            xb = self._blocks(rows)
            shape = (*xb.shape[:2], self.k, b) if self.full else (*xb.shape[:2], b)
            if distributed.active():  # the blocks spread over every process (engine.distributed)
                c = distributed.ShardedProduct(partial(_pull, self.model, self.full),
                                               partial(_push, self.model, self.full),
                                               self.model.params, self.model.state, xb.shape,
                                               shape, self.dtype)
                self._compiled[b] = (c, rows, c.memory_bytes or PRODUCT_BUDGET)
                return self._compiled[b]
            V = jax.ShapeDtypeStruct(shape, self.dtype)
            fn = jax.jit(lambda p, s, xb, V: _product(self.model, self.full, p, s, xb, V))
            c = fn.lower(self.model.params, self.model.state, xb, V).compile()
            try:
                m = c.memory_analysis()
                need = int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
            except Exception:  # not every backend reports it; the row budget stands in
                need = PRODUCT_BUDGET
            self._compiled[b] = (c, rows, need)
        return self._compiled[b]

    def matvec(self, V) -> np.ndarray:
        """K V for V of shape (size, b) or (size,), in float64 on the host."""
        V = np.asarray(V, np.float64)
        one = V.ndim == 1
        V = V.reshape(self.size, -1)
        b = V.shape[1]
        c, rows, _ = self.compiled(b)
        xb = self._blocks(rows)
        n_pad = xb.shape[0] * rows
        Vs = V.reshape(self.samples, self.k, b) if self.full else V
        Vp = np.zeros((n_pad, *Vs.shape[1:]), np.float64)
        Vp[: self.samples] = Vs
        Vp = jnp.asarray(Vp.reshape(xb.shape[0], rows, *Vs.shape[1:]), self.dtype)
        start = time.perf_counter()
        out = np.asarray(c(self.model.params, self.model.state, xb, Vp), np.float64)
        self.product_s += time.perf_counter() - start
        self.products += b
        out = out.reshape(n_pad, *Vs.shape[1:])[: self.samples].reshape(self.size, b)
        return out[:, 0] if one else out

    def forward(self) -> np.ndarray:
        """f on all of x, (N, k), in the product's row blocks (the yardstick for its cost)."""
        rows = self._rows_for(1)
        xb = self._blocks(rows)
        fn = self._compiled.get("forward")
        if fn is None:
            fn = jax.jit(lambda p, s, xb: lax.map(lambda xr: _as_rows(self.model.fn(p, s, xr), xr), xb))
            self._compiled["forward"] = fn
        out = fn(self.model.params, self.model.state, xb)
        return np.asarray(out).reshape(-1, self.k)[: self.samples]


def _check_memory(op: KernelOperator, what: str, host_bytes: int, b: int, hint: str) -> None:
    """The Krylov basis on the host and one product's buffers, refused before allocation."""
    _, _, product = op.compiled(b)
    need = host_bytes + product
    available = backend.available_bytes()
    if need > available:
        raise InsufficientMemory(what, need, available, hint)


# --- the trace ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trace:
    trace: float
    diagonal: np.ndarray  # K's diagonal: Σ_o ‖∇f_o(x_i)‖² (trace) or ‖∇f_o(x_i)‖² (full)


def exact_trace(op: KernelOperator, *, block: int = 4) -> Trace:
    """tr K = Σ_i ‖∇_θ f(x_i)‖², exactly, from per-sample gradients: for each block of `block`
    samples, one reverse pass per (sample, output) cotangent over the block. Small blocks are
    fastest (each reverse pass runs over the whole block); on the 2-core CPU this was 4.7 times
    faster than vmap of per-sample gradients on a 2-256-256-256-1 network."""
    model, k = op.model, op.k
    block = max(1, min(int(block), op.samples))
    xb = op._blocks(block)

    def norms(p, s, xr):
        _, vjp = jax.vjp(lambda q: _as_rows(model.fn(q, s, xr), xr), p)
        basis = jnp.eye(block * k, dtype=xr.dtype).reshape(block * k, block, k)
        G = jax.vmap(lambda c: vjp(c)[0])(basis)  # leaves (block·k, …): one gradient per row
        return sum(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in jax.tree.leaves(G))

    fn = jax.jit(lambda p, s, xb: lax.map(lambda xr: norms(p, s, xr), xb))
    d = np.asarray(fn(model.params, model.state, xb), np.float64).reshape(-1, k)[: op.samples]
    diag = d.reshape(-1) if op.full else d.sum(axis=1)
    return Trace(float(diag.sum()), diag)


# --- block Lanczos --------------------------------------------------------------------------

@dataclass
class Eigenpairs:
    """Ritz pairs of K: values (descending for "largest", ascending for "smallest"), unit vectors
    as columns, each with its residual ‖Ku − θu‖ (some eigenvalue of K lies within it of θ).
    block_residual = ‖KU − UΘ‖₂ bounds all of them at once with distinct eigenvalues (Kahan)."""

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    block_residual: float
    converged: np.ndarray
    which: str
    krylov_dim: int
    products: int
    ritz_max: float  # the largest Ritz value: λ_max ≥ it ≥ λ_max − its residual
    ritz_max_residual: float
    floor: float
    dtype: str
    seconds: float

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def as_dict(self) -> dict:
        vals = [None if v <= self.floor else float(v) for v in self.values]
        return {"eigenvalues": vals, "residuals": [float(r) for r in self.residuals],
                "converged": [bool(c) for c in self.converged], "block_residual": self.block_residual,
                "krylov_dim": self.krylov_dim, "products": self.products, "floor": self.floor,
                "which": self.which, "seconds": self.seconds}


def _orthonormalise(Z, Q, rng, scale):
    """An orthonormal basis of Z's columns orthogonal to Q's: block classical Gram–Schmidt twice
    against Q, then QR within the block. A column that vanishes (the Krylov space is invariant,
    or the block is rank-deficient) is replaced by a random direction."""
    def project(Z):
        for _ in range(2):
            if Q.shape[1]:
                Z = Z - Q @ (Q.T @ Z)
        return Z

    Z = project(Z)
    for _ in range(3):
        U, R = np.linalg.qr(Z)
        weak = np.abs(np.diag(R)) <= 1e-10 * scale
        if not weak.any():
            return U
        Z = Z.copy()
        Z[:, weak] = project(rng.standard_normal((Z.shape[0], int(weak.sum()))))
        scale = max(scale, 1.0)
    raise EngineError("could not extend the Krylov basis (the kernel's range is exhausted)")


def _ritz(Q, W, H, count, which):
    require_finite(H, "the projected kernel")
    theta, S = np.linalg.eigh((H + H.T) / 2)
    idx = np.arange(len(theta))[::-1][:count] if which == "largest" else np.arange(count)
    S_sel, th = S[:, idx], theta[idx]
    U = Q @ S_sel
    R = W @ S_sel - U * th
    res = np.linalg.norm(R, axis=0)
    G = R.T @ R
    block = float(math.sqrt(max(np.linalg.eigvalsh((G + G.T) / 2)[-1], 0.0))) if count else 0.0
    top = np.argmax(theta)
    r_top = float(np.linalg.norm(W @ S[:, top] - theta[top] * (Q @ S[:, top])))
    return th, U, res, block, float(theta[top]), r_top


def eigsh(op: KernelOperator, count: int, *, which: str = "largest", tol: float = 1e-8,
          relative: str = "norm", block_size: int | None = None, max_dim: int | None = None,
          seed: int = 0, progress: Callable | None = None) -> Eigenpairs:
    """The `count` largest (or smallest) eigenpairs of K by block Lanczos: the Krylov space of a
    random block, fully reorthogonalised, with Rayleigh–Ritz on the stored products K Q (so every
    residual is computed from products, not from the recurrence). Stops when every wanted pair's
    residual is at most tol · θ_max (relative="norm") or tol · |θ| ("value": each eigenvalue to
    relative accuracy, which for "smallest" also stops at a Ritz value below the round-off floor,
    since λ_min ≤ θ), or when the space reaches max_dim vectors.
    progress(krylov_dim, max_dim, converged_count), where given, is called after each product."""
    if which not in ("largest", "smallest"):
        raise EngineError(f"which must be 'largest' or 'smallest', got {which!r}")
    if relative not in ("norm", "value"):
        raise EngineError(f"relative must be 'norm' or 'value', got {relative!r}")
    n = op.size
    if not 1 <= count <= n:
        raise EngineError(f"the number of eigenpairs must be between 1 and {n}, got {count}")
    b = min(n, block_size or max(4, min(16, count)))
    max_dim = min(n, max_dim or max(3 * count + 4 * b, 100))
    if max_dim < count:
        raise EngineError(f"max_dim {max_dim} is smaller than the {count} eigenpairs asked for")
    host = 2 * n * max_dim * 8 + 3 * n * count * 8
    _check_memory(op, f"{count} eigenpairs of a {n} × {n} kernel (Krylov space {max_dim})", host, b,
                  "; ask for fewer eigenpairs or a smaller Krylov space (max_dim)")
    start, products0 = time.perf_counter(), op.products
    rng = np.random.default_rng(seed)
    Q = np.empty((n, max_dim))
    W = np.empty((n, max_dim))
    H = np.zeros((max_dim, max_dim))
    V = _orthonormalise(rng.standard_normal((n, b)), Q[:, :0], rng, 1.0)
    m = 0
    while True:
        KV = op.matvec(V)
        w = V.shape[1]
        Q[:, m:m + w], W[:, m:m + w] = V, KV
        H[:m + w, m:m + w] = Q[:, :m + w].T @ KV
        H[m:m + w, :m] = H[:m, m:m + w].T
        m += w
        result = None
        if m >= count:
            th, U, res, blk, tmax, rmax = _ritz(Q[:, :m], W[:, :m], H[:m, :m], count, which)
            done = _converged(th, res, tmax, tol, relative, op)
            result = (th, U, res, blk, tmax, rmax, done)
        if progress is not None:
            progress(m, max_dim, int(result[-1].sum()) if result else 0)
        if (result is not None and result[-1].all()) or m >= max_dim:
            break
        w = min(b, max_dim - m)
        scale = float(np.linalg.norm(KV, axis=0).max()) or 1.0
        V = _orthonormalise(KV[:, :w], Q[:, :m], rng, scale)
    th, U, res, blk, tmax, rmax, done = result
    done = res <= tol * (abs(tmax) if relative == "norm" else np.abs(th))
    floor = roundoff_floor(op.samples, tmax, op.dtype)
    return Eigenpairs(th, U, res, blk, done, which, m, op.products - products0, tmax, rmax, floor,
                      op.dtype.name, time.perf_counter() - start)


def _converged(theta, res, tmax, tol, relative, op):
    if relative == "norm":
        return res <= tol * max(abs(tmax), np.finfo(float).tiny)
    floor = roundoff_floor(op.samples, tmax, op.dtype)
    return (res <= tol * np.abs(theta)) | (theta <= floor)


@dataclass(frozen=True)
class LambdaMin:
    """The smallest Ritz value θ of a Krylov space of K: always λ_min ≤ θ (Ritz values lie in
    [λ_min, λ_max]); with its residual r some eigenvalue lies in [θ − r, θ + r]. `value` is θ
    only where r ≤ tol · θ (θ to relative accuracy tol) and θ is above the round-off floor;
    otherwise None, and the upper bound θ is what is known. A Krylov method cannot rule out an
    eigenvalue its starting block never saw, so a converged θ is the smallest it found."""

    ritz: float
    residual: float
    upper_bound: float
    converged: bool
    below_floor: bool
    lambda_max: float
    floor: float
    krylov_dim: int

    @property
    def value(self) -> float | None:
        return self.ritz if self.converged and not self.below_floor else None

    @property
    def condition(self) -> float | None:
        return None if self.value is None else self.lambda_max / self.value

    def as_dict(self) -> dict:
        return {"lambda_min": self.value, "converged": self.converged,
                "below_floor": self.below_floor, "ritz_value": self.ritz,
                "residual": self.residual, "upper_bound": self.upper_bound,
                "lambda_max": self.lambda_max, "condition": self.condition, "floor": self.floor,
                "krylov_dim": self.krylov_dim}


def lambda_min(op: KernelOperator, *, tol: float = 1e-6, max_dim: int | None = None,
               block_size: int | None = None, seed: int = 0,
               progress: Callable | None = None) -> LambdaMin:
    """λ_min through the same block Lanczos (the Krylov space of K is that of c·I − K), reported
    as not converged, with its upper bound, where the residual stays large."""
    dim = min(op.size, max_dim or 512)
    pairs = eigsh(op, 1, which="smallest", tol=tol, relative="value", block_size=block_size,
                  max_dim=dim, seed=seed, progress=progress)
    theta, r = float(pairs.values[0]), float(pairs.residuals[0])
    return LambdaMin(theta, r, theta, bool(pairs.converged[0]), theta <= pairs.floor,
                     pairs.ritz_max, pairs.floor, pairs.krylov_dim)


# --- stochastic Lanczos quadrature ----------------------------------------------------------

@dataclass
class Density:
    """The eigenvalue density of K by stochastic Lanczos quadrature, two ways.

    - values on `grid` (λ, linear): the density smoothed by a Gaussian of width sigma, integrating
      to one; standard_error is its sampling error over the probes (one standard error of their
      mean: a statistical estimate); quadrature_change is the largest change from half the
      Lanczos steps to all of them (small when the steps suffice).
    - the fraction of eigenvalues at or below each of `thresholds` (log-spaced from the round-off
      floor to λ_max), between cdf_lower and cdf_upper: for each probe these are the
      Chebyshev–Markov–Stieltjes bounds of its Gauss quadrature (rigorous in exact arithmetic),
      averaged over the probes; cdf_standard_error is the sampling error of that average.
      This is the view that resolves a spectrum spanning many decades."""

    grid: np.ndarray
    values: np.ndarray
    standard_error: np.ndarray
    quadrature_change: float
    sigma: float
    thresholds: np.ndarray
    cdf_lower: np.ndarray
    cdf_upper: np.ndarray
    cdf_standard_error: np.ndarray
    trace_estimate: float
    trace_standard_error: float
    probes: int
    steps: int
    floor: float

    @property
    def below_floor_fraction(self) -> tuple[float, float]:
        """(lower, upper) bounds on the fraction of eigenvalues at or below the floor."""
        return float(self.cdf_lower[0]), float(self.cdf_upper[0])

    def as_dict(self) -> dict:
        return {"grid": self.grid.tolist(), "values": self.values.tolist(),
                "standard_error": self.standard_error.tolist(), "sigma": self.sigma,
                "quadrature_change": self.quadrature_change,
                "thresholds": self.thresholds.tolist(), "cdf_lower": self.cdf_lower.tolist(),
                "cdf_upper": self.cdf_upper.tolist(),
                "cdf_standard_error": self.cdf_standard_error.tolist(),
                "trace_estimate": self.trace_estimate,
                "trace_standard_error": self.trace_standard_error, "probes": self.probes,
                "steps": self.steps, "floor": self.floor}


def lanczos_quadrature(op: KernelOperator, probes: int, steps: int, seed: int = 0,
                       progress: Callable | None = None, vectors=None):
    """For each of `probes` Rademacher vectors z (normalised), `steps` Lanczos steps from it, fully
    reorthogonalised, run side by side (one product of `probes` vectors per step). Returns the
    Gauss quadrature of each probe: nodes (probes, steps) and weights (probes, steps), with
    Σ_j w_j g(θ_j) ≈ zᵀ g(K) z / zᵀz, exact for polynomials g of degree < 2·steps.
    Probes whose Krylov space closes early get zero-weight padding nodes. `vectors` (size, probes),
    where given, replaces the Rademacher probes (each is normalised)."""
    n = op.size
    steps = min(steps, n)
    host = probes * steps * n * 8 + 3 * n * probes * 8
    _check_memory(op, f"stochastic Lanczos quadrature ({probes} probes × {steps} steps) of a "
                  f"{n} × {n} kernel", host, probes, "; use fewer probes or steps")
    rng = np.random.default_rng(seed)
    if vectors is None:
        Z = rng.choice([-1.0, 1.0], size=(n, probes)) / math.sqrt(n)
    else:
        Z = np.asarray(vectors, np.float64).reshape(n, probes)
        Z = Z / np.linalg.norm(Z, axis=0)
    Qs = np.zeros((steps, n, probes))
    alpha = np.zeros((probes, steps))
    beta = np.zeros((probes, steps))
    length = np.full(probes, steps)
    V = Z
    for j in range(steps):
        Qs[j] = V
        W = op.matvec(V)
        alpha[:, j] = np.einsum("np,np->p", V, W)
        for _ in range(2):  # full reorthogonalisation against each probe's own basis
            c = np.einsum("snp,np->sp", Qs[: j + 1], W)
            W = W - np.einsum("snp,sp->np", Qs[: j + 1], c)
        if progress is not None:
            progress(j + 1, steps)
        if j + 1 == steps:
            break
        nrm = np.linalg.norm(W, axis=0)
        scale = np.abs(alpha[:, : j + 1]).max(axis=1) + np.finfo(float).tiny
        closed = (nrm <= 1e-10 * scale) & (length == steps)
        length[closed] = j + 1
        live = length > j + 1
        beta[:, j] = np.where(live, nrm, 0.0)
        V = np.where(live, W / np.where(nrm > 0, nrm, 1.0), 0.0)
    nodes = np.zeros((probes, steps))
    weights = np.zeros((probes, steps))
    for p in range(probes):
        L = length[p]
        T = np.diag(alpha[p, :L]) + np.diag(beta[p, : L - 1], 1) + np.diag(beta[p, : L - 1], -1)
        require_finite(T, "a Lanczos matrix")
        th, S = np.linalg.eigh(T)
        nodes[p, :L], weights[p, :L] = th, S[0] ** 2
    return nodes, weights, alpha, beta, length


def _smoothed(nodes, weights, grid, sigma):
    """Σ_j w_j N(t; θ_j, σ²) for each probe and grid point t: (probes, points)."""
    d = (grid[None, None, :] - nodes[:, :, None]) / sigma
    return np.einsum("pj,pjt->pt", weights, np.exp(-0.5 * d * d)) / (sigma * math.sqrt(2 * math.pi))


def _gauss(alpha, beta, L):
    T = np.diag(alpha[:L]) + np.diag(beta[: L - 1], 1) + np.diag(beta[: L - 1], -1)
    th, S = np.linalg.eigh(T)
    return th, S[0] ** 2


def _cms_bounds(nodes, weights, thresholds):
    """Chebyshev–Markov–Stieltjes: for a measure whose Gauss rule has nodes x₁ < … < x_m and
    weights w, μ(−∞, t] lies between the weights of the nodes below the last node ≤ t and the
    weights up to the first node > t."""
    order = np.argsort(nodes)
    cum = np.concatenate([[0.0], np.cumsum(weights[order])])
    c = np.searchsorted(nodes[order], thresholds, side="right")
    m = len(nodes)
    return cum[np.maximum(c - 1, 0)], cum[np.minimum(c + 1, m)]


def density(op: KernelOperator, *, probes: int = 8, steps: int = 40, points: int = 200,
            sigma: float | None = None, seed: int = 0,
            progress: Callable | None = None) -> Density:
    """The eigenvalue density of K by stochastic Lanczos quadrature (see lanczos_quadrature and
    Density): a smoothed density on a linear grid, and bounds on the fraction of eigenvalues below
    log-spaced thresholds."""
    if probes < 2 or steps < 2:
        raise EngineError(f"the density needs at least 2 probes and 2 steps, got {probes} and {steps}")
    nodes, weights, alpha, beta, length = lanczos_quadrature(op, probes, steps, seed, progress)
    steps = nodes.shape[1]
    top = float(nodes.max())
    floor = roundoff_floor(op.samples, top, op.dtype)
    sigma = sigma or top / 100
    grid = np.linspace(-3 * sigma, top + 3 * sigma, points)
    per_probe = _smoothed(nodes, weights, grid, sigma)
    values = per_probe.mean(axis=0)
    se = per_probe.std(axis=0, ddof=1) / math.sqrt(probes)
    # The quadrature of half the steps: the leading block of each tridiagonal matrix.
    half = np.zeros((2, probes, max(steps // 2, 1)))
    for p in range(probes):
        L = min(length[p], steps // 2)
        half[0, p, :L], half[1, p, :L] = _gauss(alpha[p], beta[p], L)
    change = float(np.abs(_smoothed(half[0], half[1], grid, sigma).mean(axis=0) - values).max())
    thresholds = np.logspace(math.log10(floor), math.log10(top), max(points // 4, 2))
    lower, upper = np.empty((probes, thresholds.size)), np.empty((probes, thresholds.size))
    for p in range(probes):
        L = length[p]
        lower[p], upper[p] = _cms_bounds(nodes[p, :L], weights[p, :L], thresholds)
    mid = (lower + upper) / 2
    tr = op.size * np.sum(weights * nodes, axis=1)  # zᵀKz with ±1 entries: unbiased for tr K
    return Density(grid, values, se, change, float(sigma), thresholds, lower.mean(0), upper.mean(0),
                   mid.std(axis=0, ddof=1) / math.sqrt(probes), float(tr.mean()),
                   float(tr.std(ddof=1) / math.sqrt(probes)), probes, steps, floor)
