"""Empirical NTK of deep MLPs (docs/maths.md#the-empirical-ntk).

Layer-wise, never materialising the Jacobian: with Δ_l = ∂f/∂h_l and A_{l−1} the layer's input,

    K = Σ_l (Δ_l Δ_lᵀ) ⊙ (c_l · A_{l−1} A_{l−1}ᵀ + c_b).

A hidden layer wider than the chunk is *streamed*: its neurons are visited in chunks, each chunk's
pre-activations recomputed from the stored input, so its N × n_l activations never exist at once.
Both of its kernel terms (its own, through Δ_l, and the next layer's, through A_l) are accumulated
chunk by chunk, and the chunks are spread over every local device with `shard_map`; the partial
kernels are summed at the end. Memory is O(N² + N·chunk) per wide layer, whatever its width.

Output width k > 1 is handled with the usual trace over outputs: K = Σ_k K_k.

`autodiff_ntk` computes K = J Jᵀ by automatic differentiation for any per-sample function
f(params, x); it is the reference the layer-wise path is tested against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

from engine import backend
from engine.data import check_data, require_finite, require_flag
from engine.errors import EngineError, InsufficientMemory

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402

from engine import compiled, mlp  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402

_HI = lax.Precision.HIGHEST  # float32 on GPUs would otherwise use TF32 and break the round-off floor
_AXIS = "chunks"
# Row blocks bound the temporaries of the N × N accumulation inside a streamed layer.
_ROW_BLOCK_BYTES = 64 * 1024**2
# Layers up to this width are stored whole; wider ones stream (halved until the memory fits).
DEFAULT_CHUNK = 8192
MIN_CHUNK = 64


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HI)


def _gram(a):
    """a aᵀ for a (N, …) array, flattening every axis but the first."""
    a = a.reshape(a.shape[0], -1)
    return _mm(a, a.T)


# --- the plan: which layers stream, chunk sizes, devices ------------------------------------

@dataclass(frozen=True)
class Plan:
    samples: int
    streamed: tuple[bool, ...]  # per weight layer 1..L; the output layer never streams
    chunk: int
    devices: int
    row_block: int

    @property
    def streamed_layers(self) -> list[int]:
        return [l for l, s in enumerate(self.streamed, start=1) if s]


def make_plan(spec: MLPSpec, samples: int, chunk: int, devices: int, dtype) -> Plan:
    """Stream every hidden layer wider than `chunk` whose input layer is stored (a streamed layer
    needs its neighbours stored; of two adjacent wide layers the second is stored)."""
    streamed = []
    for l in range(1, spec.depth + 1):
        wide = l < spec.depth and spec.widths[l] > chunk
        streamed.append(wide and not (streamed and streamed[-1]))
    itemsize = jnp.dtype(dtype).itemsize
    blocks = max(1, math.ceil(samples * samples * itemsize / _ROW_BLOCK_BYTES))
    return Plan(samples, tuple(streamed), int(chunk), int(devices), math.ceil(samples / blocks))


def _chunking(width: int, chunk: int, devices: int) -> tuple[int, int]:
    """(number of chunks, a multiple of the device count; chunk size) covering `width`."""
    q = math.ceil(width / chunk)
    q = math.ceil(q / devices) * devices
    return q, math.ceil(width / q)


def memory_estimate(spec: MLPSpec, plan: Plan, dtype) -> int:
    """Bytes the layer-wise kernel needs at its peak, from the sizes alone (used to choose a chunk
    before compiling; `empirical_kernel` then checks XLA's own figure for the compiled program)."""
    n, N, k = spec.widths, plan.samples, spec.outputs
    item = jnp.dtype(dtype).itemsize
    total = spec.parameter_count * item + N * n[0] * item
    # Drawing a layer's weights (mlp.init) holds its random bits, the float64 draw and its scaled
    # copy at once: three float64 copies of the largest layer on top of the stored parameters.
    total += 3 * 8 * max(n[l] * n[l - 1] for l in range(1, len(n)))
    stored = [l for l in range(1, spec.depth) if not plan.streamed[l - 1]]
    total += sum(3 * N * n[l] for l in stored) * item  # h, φ(h), Δ
    square = N * N * item
    per_device = 3 * square  # the kernel, Δ_{l+1}Δ_{l+1}ᵀ and c·A_{l−1}A_{l−1}ᵀ + c_b
    for l in plan.streamed_layers:
        _, c = _chunking(n[l], plan.chunk, plan.devices)
        buffers = (5 + 2 * k) * N * c + N * k * (n[l + 1] + n[l - 1]) + 2 * plan.row_block * N
        per_device = max(per_device, 3 * square + buffers * item)
    on_host = jax.default_backend() == "cpu"  # simulated CPU devices share the host's memory
    total += plan.devices * per_device if on_host else per_device
    eigen = square + N * N * 8  # the kernel and the float64 copy the eigensolver works on
    return int(max(total, eigen))


def choose_plan(spec: MLPSpec, samples: int, dtype, chunk: int | None = None,
                devices: int | None = None) -> Plan:
    """A plan that fits in memory: the given chunk, or the largest default-sized one that fits.
    Refuses before any allocation, naming the estimate and a chunk that would fit."""
    spec.act.require_derivative()
    n_dev = len(jax.devices()) if devices is None else int(devices)
    if not 1 <= n_dev <= len(jax.devices()):
        raise EngineError(f"devices must be between 1 and {len(jax.devices())}, got {devices}")
    if chunk is not None and chunk < 1:
        raise EngineError(f"chunk must be positive, got {chunk}")
    what = f"the empirical NTK of {samples} samples through widths {list(spec.widths)}"
    available = backend.available_bytes()
    if chunk is not None:
        plan = make_plan(spec, samples, chunk, n_dev, dtype)
        need = memory_estimate(spec, plan, dtype)
        if need > available:
            fit = _largest_fitting_chunk(spec, samples, n_dev, dtype, available)
            hint = f"; --chunk {fit} would fit" if fit else "; no chunk size fits: use fewer samples"
            raise InsufficientMemory(what + f" with chunk {chunk}", need, available, hint)
        return plan
    fit = _largest_fitting_chunk(spec, samples, n_dev, dtype, available)
    if fit is None:
        plan = make_plan(spec, samples, MIN_CHUNK, n_dev, dtype)
        raise InsufficientMemory(what + f" even with chunk {MIN_CHUNK}",
                                 memory_estimate(spec, plan, dtype), available,
                                 "; use fewer samples or float32")
    return make_plan(spec, samples, fit, n_dev, dtype)


def _largest_fitting_chunk(spec, samples, n_dev, dtype, available):
    c = DEFAULT_CHUNK
    while c >= MIN_CHUNK:
        if memory_estimate(spec, make_plan(spec, samples, c, n_dev, dtype), dtype) <= available:
            return c
        c //= 2
    return None


# --- the layer-wise kernel ------------------------------------------------------------------

def _act_fns(spec: MLPSpec):
    act, s = spec.act, spec.scale
    return (lambda t: act.apply(t, s)), (lambda t: act.derivative(t, s))


def _chunk_slicer(plan: Plan, m: int, params):
    """(chunks per device, chunk(i) ↦ (W_m rows, b_m, mask, W_{m+1} columns)) for layer m.

    Chunks are dynamic slices of the unpadded weights (no copies). The last chunk is shifted back
    to end at the layer's edge and its mask drops the neurons an earlier chunk already covered;
    chunks past the edge are masked out entirely (φ(0) need not be 0, so masks are needed)."""
    W, Wn = params[m - 1]["W"], params[m]["W"]
    width, n_in = W.shape
    q, c = _chunking(width, plan.chunk, plan.devices)
    b = params[m - 1].get("b")

    def chunk(i):
        lo = i * c
        start = jnp.minimum(lo, width - c)
        idx = start + jnp.arange(c)
        mask = ((idx >= lo) & (idx < width)).astype(W.dtype)
        w = lax.dynamic_slice(W, (start, 0), (c, n_in))
        bias = lax.dynamic_slice(b, (start,), (c,)) if b is not None else jnp.zeros((c,), W.dtype)
        wn = lax.dynamic_slice(Wn, (0, start), (Wn.shape[0], c))
        return w, bias, mask, wn

    return q // plan.devices, chunk


def _over_devices(plan: Plan, local, *args):
    """Run local(device_index, *args) on every device (arguments replicated) and sum the results.
    One device runs it directly, so its carries can reuse the input buffers in place."""
    if plan.devices == 1:
        return local(0, *args)
    mesh = Mesh(np.array(jax.devices()[: plan.devices]), (_AXIS,))

    def body(*a):
        out = local(lax.axis_index(_AXIS), *a)
        return jax.tree.map(lambda t: lax.psum(t, _AXIS), out)

    return jax.shard_map(body, mesh=mesh, in_specs=(P(),) * len(args), out_specs=P())(*args)


def _first_device_only(plan: Plan, device, a):
    """The initial value of a summed carry: `a` on device 0, zeros elsewhere (exact after psum)."""
    if plan.devices == 1:
        return a
    return jnp.where(device == 0, a, jnp.zeros_like(a))  # varying across devices, as a carry must be


def _rows(a, start, size):
    return lax.dynamic_slice_in_dim(a, start, size, axis=0)


def _add_by_rows(block: int, K, term):
    """K + term, one block of rows at a time, in place: term(start, size) gives those rows.
    A loop (not an unrolled sequence) so that XLA reuses one block's temporaries for the next."""
    N = K.shape[0]
    full, rest = divmod(N, block)

    def body(i, K):
        r = i * block
        return lax.dynamic_update_slice_in_dim(K, _rows(K, r, block) + term(r, block), r, axis=0)

    K = lax.fori_loop(0, full, body, K)
    if rest:
        r = full * block
        K = lax.dynamic_update_slice_in_dim(K, _rows(K, r, rest) + term(r, rest), r, axis=0)
    return K


def _stream_forward(spec, plan, m, params, a_prev):
    """h_{m+1} (without its bias) = c_w Σ_chunks φ(h_m[:, chunk]) W_{m+1}[:, chunk]ᵀ."""
    phi, _ = _act_fns(spec)
    cw, cb = spec.forward_factors(m)
    cwn, _ = spec.forward_factors(m + 1)
    per_device, chunk = _chunk_slicer(plan, m, params)
    n_next = params[m]["W"].shape[0]

    def local(device, a_prev):
        def step(acc, j):
            w, b, msk, wn = chunk(device * per_device + j)
            a = phi(cw * _mm(a_prev, w.T) + cb * b) * msk
            return acc + cwn * _mm(a, wn.T), None

        acc0 = _first_device_only(plan, device, jnp.zeros((a_prev.shape[0], n_next), a_prev.dtype))
        return lax.scan(step, acc0, jnp.arange(per_device))[0]

    return _over_devices(plan, local, a_prev)


def _stream_backward(spec, plan, m, params, K, a_prev, delta_next, g_next, m_prev, need_back):
    """K plus both kernel terms that run through streamed layer m, chunk by chunk:
    Δ_{m+1}Δ_{m+1}ᵀ ⊙ c_{m+1}·A_m A_mᵀ  +  Δ_m Δ_mᵀ ⊙ (c_m·A_{m−1}A_{m−1}ᵀ + c_b),
    and Δ_m W_m (the signal back-propagated into layer m−1) when layer m−1 is hidden."""
    phi, dphi = _act_fns(spec)
    cw, cb = spec.forward_factors(m)
    cwn, _ = spec.forward_factors(m + 1)
    c_next = cwn * cwn
    N, k = a_prev.shape[0], delta_next.shape[1]
    per_device, chunk = _chunk_slicer(plan, m, params)

    def local(device, K, a_prev, delta_next, g_next, m_prev):
        def step(carry, j):
            K, back = carry
            w, b, msk, wn = chunk(device * per_device + j)
            h = cw * _mm(a_prev, w.T) + cb * b
            a = phi(h) * msk
            d = jnp.einsum("ikn,nc->ikc", delta_next, cwn * wn, precision=_HI)
            d = d * (dphi(h) * msk)[:, None, :]
            d2 = d.reshape(N, -1)
            K = _add_by_rows(plan.row_block, K, lambda r, n: (
                _rows(g_next, r, n) * (c_next * _mm(_rows(a, r, n), a.T))
                + _mm(_rows(d2, r, n), d2.T) * _rows(m_prev, r, n)))
            if need_back:
                back = back + jnp.einsum("ikc,cp->ikp", d, cw * w, precision=_HI)
            return (K, back), None

        back0 = jnp.zeros((N, k, a_prev.shape[1]) if need_back else (), a_prev.dtype)
        carry0 = (_first_device_only(plan, device, K), _first_device_only(plan, device, back0))
        return lax.scan(step, carry0, jnp.arange(per_device))[0]

    return _over_devices(plan, local, K, a_prev, delta_next, g_next, m_prev)


def _layerwise(spec: MLPSpec, plan: Plan, params, x):
    L = spec.depth
    phi, dphi = _act_fns(spec)
    # Forward: pre-activations H[l] and activations A[l] of stored layers (A[0] = x).
    H, A = {}, {0: x}
    for l in range(1, L + 1):
        if plan.streamed[l - 1]:
            continue
        if l >= 2 and plan.streamed[l - 2]:
            h = _stream_forward(spec, plan, l - 1, params, A[l - 2])
            cw, cb = spec.forward_factors(l)
            if "b" in params[l - 1]:
                h = h + cb * params[l - 1]["b"]
        else:
            h = mlp.layer_pre(spec, l, params[l - 1], A[l - 1])
        H[l] = h
        if l < L:
            A[l] = phi(h)

    # Backward, accumulating K term by term from the output layer down.
    N, k = x.shape[0], spec.outputs
    delta = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype), (N, k, k))  # Δ_L = ∂f/∂h_L
    K = jnp.zeros((N, N), x.dtype)
    l = L
    while l >= 1:
        g = _gram(delta)
        c_l, cb_l = spec.ntk_factors(l)
        if l >= 2 and plan.streamed[l - 2]:
            m = l - 1
            c_m, cb_m = spec.ntk_factors(m)
            if cb_l:
                K = K + cb_l * g
            m_prev = c_m * _gram(A[m - 1]) + cb_m
            K, back = _stream_backward(spec, plan, m, params, K, A[m - 1], delta, g, m_prev,
                                       need_back=m >= 2)
            if m < 2:
                break
            delta = back * dphi(H[m - 1])[:, None, :]
            l = m - 1
            continue
        K = K + g * (c_l * _gram(A[l - 1]) + cb_l)
        if l >= 2:
            cw, _ = spec.forward_factors(l)
            delta = jnp.einsum("ikn,np->ikp", delta, cw * params[l - 1]["W"], precision=_HI)
            delta = delta * dphi(H[l - 1])[:, None, :]
        l -= 1
    return K


def layerwise_ntk(spec: MLPSpec, params, x, *, chunk: int | None = None, devices: int | None = None):
    """The empirical NTK matrix (N × N) by the layer-wise formula; see the module docstring."""
    x = jnp.asarray(x)
    plan = choose_plan(spec, x.shape[0], x.dtype, chunk, devices)
    return _compiled(spec, plan, params, x)(params, x)


def _program(spec: MLPSpec, plan: Plan):
    """The layer-wise kernel of this network and plan as a jitted function of (params, x)."""
    return jax.jit(partial(_layerwise, spec, plan))


def _compiled(spec: MLPSpec, plan: Plan, params, x):
    """`_program` compiled ahead of time for the shapes of params and x (arrays or
    ShapeDtypeStructs), from the engine's cache: a study that revisits a network, or a test
    suite, does not lower and compile it again."""
    return compiled.program(("ntk.layerwise", spec, plan), _program(spec, plan), params, x)


# --- the autodiff reference -----------------------------------------------------------------

def autodiff_ntk(f, params, x, *, block: int | None = None) -> np.ndarray:
    """K = Σ_outputs J Jᵀ with J = ∂f/∂θ by automatic differentiation, for any JAX function
    f(params, x) that maps a batch (N, …) to (N,) or (N, k) sample by sample.

    With `block` None the whole Jacobian (N × parameters) is formed and contracted. With a block
    size, memory is O(block · parameters): the Jacobian of `block` samples is formed at a time and
    its rows are pushed forward through f on all N inputs (jvp), giving `block` columns of K."""
    x = jnp.asarray(x)
    N = x.shape[0]
    jacobian, columns = _autodiff_programs(f)
    if block is None or block >= N:
        J = jacobian(params, x)
        return np.asarray(_contract(J, J))
    K = np.empty((N, N), np.dtype(x.dtype))
    for a in range(0, N, block):
        b = min(a + block, N)
        K[:, a:b] = np.asarray(columns(params, x, x[a:b]))
    return (K + K.T) / 2  # the columns are exact up to round-off; symmetrise it away


def _autodiff_programs(f):
    """The jitted (flat Jacobian, kernel columns) programs for f, built once per function (in
    the engine's cache), so each compiles once per shape."""
    return compiled.cached(("ntk.autodiff", f), lambda: _build_autodiff_programs(f))


def _build_autodiff_programs(f):
    def per_sample(params, xi):
        return jax.jacrev(lambda p: jnp.reshape(f(p, xi[None]), (-1,)))(params)  # leaves (k, …)

    def flat_jacobian(params, xb):
        tree = jax.vmap(per_sample, in_axes=(None, 0))(params, xb)  # leaves (b, k, …)
        return jnp.concatenate([j.reshape(j.shape[0], j.shape[1], -1)
                                for j in jax.tree.leaves(tree)], axis=2)  # (b, k, P)

    def columns(params, x, xb):
        tree = jax.vmap(per_sample, in_axes=(None, 0))(params, xb)
        b, k = jax.tree.leaves(tree)[0].shape[:2]
        tangents = jax.tree.map(lambda j: j.reshape(b * k, *j.shape[2:]), tree)

        def push(t):  # J(x) t on every input: one column of J Jᵀ per tangent
            return jax.jvp(lambda p: jnp.reshape(f(p, x), (x.shape[0], -1)), (params,), (t,))[1]

        out = jax.vmap(push)(tangents).reshape(b, k, x.shape[0], k)
        return jnp.einsum("bknk->nb", out)

    return jax.jit(flat_jacobian), jax.jit(columns)


@jax.jit
def _contract(Ji, Jj):
    return jnp.einsum("akp,bkp->ab", Ji, Jj, precision=_HI)


# --- the spectrum and its round-off floor ---------------------------------------------------

@dataclass(frozen=True)
class KernelSpectrum:
    """Eigenvalues of a kernel matrix (ascending) and the round-off floor N·ε·λ_max of the dtype
    the kernel was computed in: a λ_min below it is noise, not a result."""

    eigenvalues: np.ndarray
    floor: float
    dtype: str

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def below_floor(self) -> bool:
        return bool(self.eigenvalues[0] <= self.floor)

    @property
    def lambda_min(self) -> float | None:
        return None if self.below_floor else float(self.eigenvalues[0])

    @property
    def condition(self) -> float | None:
        return None if self.below_floor else self.lambda_max / float(self.eigenvalues[0])

    def as_dict(self) -> dict:
        return {"lambda_min": self.lambda_min, "lambda_max": self.lambda_max,
                "condition": self.condition, "below_floor": self.below_floor, "floor": self.floor}


def kernel_spectrum(K, dtype=None) -> KernelSpectrum:
    """Eigenvalues in float64: LAPACK on the host for CPU arrays, the device's solver otherwise.
    `dtype` is the precision K was computed in (default: K's own)."""
    dtype = jnp.dtype(dtype or K.dtype)
    on_cpu = not isinstance(K, jax.Array) or all(d.platform == "cpu" for d in K.devices())
    if on_cpu:
        K = np.asarray(K, dtype=np.float64)
        require_finite(K, f"the {K.shape[0]} × {K.shape[0]} kernel")
        ev = np.linalg.eigvalsh(K)
    else:
        require_flag(jnp.all(jnp.isfinite(K)), f"the {K.shape[0]} × {K.shape[0]} kernel")
        ev = np.asarray(jnp.linalg.eigvalsh(K.astype(jnp.float64)))
    return KernelSpectrum(ev, backend.roundoff_floor(ev.size, ev[-1], dtype), dtype.name)


def growth_exponent(samples, values) -> float | None:
    """The exponent a in value ≈ C·N^a, by least squares on log–log axes over the resolved
    (finite, positive) values; None with fewer than two of them."""
    n = np.asarray(samples, dtype=np.float64)
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    ok = np.isfinite(v) & (v > 0) & (n > 0)
    if ok.sum() < 2 or np.unique(n[ok]).size < 2:
        return None
    return float(np.polyfit(np.log(n[ok]), np.log(v[ok]), 1)[0])


@dataclass(frozen=True)
class GrowthFit:
    """value ≈ C·x^a fitted by least squares on log–log axes over every resolved point (several
    seeds pooled): the exponent a, its 95% confidence interval from the regression's standard
    error (Student t with points − 2 degrees of freedom; None with fewer than three points or
    two distinct x), and the exponent of each seed's own fit (docs/maths.md#growth-exponents)."""

    exponent: float | None
    ci: tuple[float, float] | None
    points: int
    seed_exponents: tuple[float | None, ...] = ()

    def as_dict(self) -> dict:
        return {"exponent": self.exponent, "exponent_ci": list(self.ci) if self.ci else None,
                "points": self.points, "seed_exponents": list(self.seed_exponents)}


def growth_fit(xs, values, seeds=None) -> GrowthFit:
    """The pooled fit of `growth_exponent` with its confidence interval; `seeds` (one label per
    point) adds each seed's exponent, fitted alone."""
    n = np.asarray(xs, dtype=np.float64)
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    ok = np.isfinite(v) & (v > 0) & (n > 0)
    a = growth_exponent(n[ok], v[ok]) if ok.any() else None
    ci = None
    if a is not None and ok.sum() >= 3:
        lx, ly = np.log(n[ok]), np.log(v[ok])
        slope, icept = np.polyfit(lx, ly, 1)
        dof = lx.size - 2
        sxx = float(np.sum((lx - lx.mean()) ** 2))
        se = math.sqrt(float(np.sum((ly - slope * lx - icept) ** 2)) / dof / sxx)
        from scipy.stats import t  # scikit-learn's dependency

        h = float(t.ppf(0.975, dof)) * se
        ci = (a - h, a + h)
    per_seed = ()
    if seeds is not None:
        labels = list(dict.fromkeys(seeds))
        per_seed = tuple(growth_exponent([x for x, s in zip(xs, seeds) if s == k],
                                         [y for y, s in zip(values, seeds) if s == k])
                         for k in labels)
    return GrowthFit(a, ci, int(ok.sum()), per_seed)


# --- one call for the front ends ------------------------------------------------------------

@dataclass
class KernelResult:
    spec: MLPSpec
    samples: int
    dtype: str
    plan: Plan
    memory_estimate: int
    spectrum: KernelSpectrum
    matrix: np.ndarray | None
    compile_s: float
    compute_s: float


def empirical_kernel(spec: MLPSpec, x, *, seed: int = 0, dtype="float64", chunk: int | None = None,
                     devices: int | None = None, keep_matrix: bool = False) -> KernelResult:
    """Initialise the network (seeded), compute its empirical NTK on x and the kernel's spectrum.
    Compilation is timed apart from computation; memory is checked before anything is allocated."""
    dtype = jnp.dtype(dtype)
    x = check_data(x, spec.widths[0])
    N = x.shape[0]
    plan = choose_plan(spec, N, dtype, chunk, devices)
    start = time.perf_counter()
    shapes = jax.eval_shape(lambda: mlp.init(spec, 0, dtype))
    program = _compiled(spec, plan, shapes, jax.ShapeDtypeStruct(x.shape, dtype))
    need = max(_compiled_bytes(program, plan), N * N * (dtype.itemsize + 8))
    available = backend.available_bytes()
    if need > available:  # XLA's own count, checked before the parameters are even drawn
        raise InsufficientMemory(f"the empirical NTK of {N} samples through widths "
                                 f"{list(spec.widths)} with chunk {plan.chunk}", need, available,
                                 "; try a smaller --chunk")
    params = mlp.init(spec, seed, dtype)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    K = program(params, jnp.asarray(x, dtype))
    del params
    spectrum = kernel_spectrum(K, dtype)
    matrix = np.asarray(K) if keep_matrix else None
    compute_s = time.perf_counter() - start
    return KernelResult(spec, N, dtype.name, plan, need, spectrum, matrix, compile_s, compute_s)


def _compiled_bytes(program, plan: Plan) -> int:
    """Arguments, outputs and temporaries of a compiled program, from XLA's buffer assignment."""
    try:
        m = program.memory_analysis()
        per = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
    except Exception:  # not every backend reports it; the size-based estimate stands in
        return 0
    return int(per * (plan.devices if jax.default_backend() == "cpu" else 1))
