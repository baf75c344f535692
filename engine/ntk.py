"""Empirical NTK of deep MLPs (docs/maths.md#the-empirical-ntk).

Layer-wise, never materialising the Jacobian: with Δ_l = ∂f/∂h_l and A_{l−1} the layer's input,

    K = Σ_l (Δ_l Δ_lᵀ) ⊙ (c_l · A_{l−1} A_{l−1}ᵀ + c_b).

Every layer is stored whole where memory allows. Otherwise a hidden layer wider than the chunk
is *streamed*: its neurons are visited in chunks, each chunk's pre-activations recomputed from the
stored input, so its N × n_l activations never exist at once.
Both of its kernel terms (its own, through Δ_l, and the next layer's, through A_l) are accumulated
chunk by chunk, and the chunks are spread over every local device with `shard_map` (one chunk per
device at a time, the products summed). Memory is O(N² + N·chunk) per wide layer, whatever its width.

K is symmetric, so it is computed by tiles of rows × columns and only the tiles on or above the
diagonal are formed (engine/tiles.py), each one call of a compiled program (on one CPU device,
of the host's BLAS, and so are the passes' products when nothing streams: `host_products`):
progress is reported, and a cancel takes effect, between tiles (docs/engine.md#tiled-kernels).

Output width k > 1 is handled with the usual trace over outputs: K = Σ_k K_k.

`autodiff_ntk` computes K = J Jᵀ by automatic differentiation for any per-sample function
f(params, x); it is the reference the layer-wise path is tested against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial

from engine import backend, distributed
from engine.data import check_data, require_finite, require_flag
from engine.errors import EngineError, InsufficientMemory

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402

from engine import compiled, mlp, tiles  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402

_HI = lax.Precision.HIGHEST  # float32 on GPUs would otherwise use TF32 and break the round-off floor
_AXIS = "chunks"
_INDEX = jnp.asarray(0).dtype  # the default integer (int64 with float64 on): a step's tile or group
# Every layer is stored whole where memory allows; otherwise layers wider than this stream in
# chunks of this size (halved until the memory fits).
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
    tile: int  # rows and columns of one kernel tile (engine/tiles.py)
    host: bool = False  # tile products by the host's BLAS (see host_products)

    @property
    def streamed_layers(self) -> list[int]:
        return [l for l, s in enumerate(self.streamed, start=1) if s]

    @property
    def tiles(self) -> int:
        """Tiles along one side of the kernel."""
        return tiles.count(self.samples, self.tile)

    @property
    def padded(self) -> int:
        """Rows once padded to whole tiles (fewer than `tiles` extra rows, sliced off)."""
        return self.tiles * self.tile

    @property
    def fused(self) -> bool:
        """One tile and no streamed layer: the whole kernel is one compiled program."""
        return self.tiles == 1 and not any(self.streamed)


def make_plan(spec: MLPSpec, samples: int, chunk: int, devices: int, dtype,
              tile: int | None = None) -> Plan:
    """Stream every hidden layer wider than `chunk` whose input layer is stored (a streamed layer
    needs its neighbours stored; of two adjacent wide layers the second is stored). Tiles of the
    platform's size (tiles.tile_size) unless `tile` is given."""
    streamed = []
    for l in range(1, spec.depth + 1):
        wide = l < spec.depth and spec.widths[l] > chunk
        streamed.append(wide and not (streamed and streamed[-1]))
    if tile is None:
        tile = tiles.tile_size(samples, jax.default_backend())
    return Plan(samples, tuple(streamed), int(chunk), int(devices), max(1, min(int(tile), samples)),
                host_products(int(devices)))


def host_products(devices: int) -> bool:
    """Whether the kernel's tile products run on the host's BLAS (NumPy, on zero-copy views of
    XLA's buffers) rather than inside XLA: on the CPU backend with one device in one process.
    There XLA's float64 matrix product ran at 0.3–0.7 of OpenBLAS's rate on the CPUs measured
    and has no symmetric product, while BLAS forms a diagonal tile a aᵀ by syrk at half a
    product's cost (docs/engine.md#tiled-kernels). Several devices, or processes, keep the sharded
    XLA path."""
    return jax.default_backend() == "cpu" and devices == 1 and jax.process_count() == 1


def _chunking(width: int, chunk: int, devices: int) -> tuple[int, int]:
    """(number of chunks, a multiple of the device count; chunk size) covering `width`."""
    q = math.ceil(width / chunk)
    q = math.ceil(q / devices) * devices
    return q, math.ceil(width / q)


def memory_estimate(spec: MLPSpec, plan: Plan, dtype) -> int:
    """Bytes the layer-wise kernel needs at its peak, from the sizes alone (used to choose a chunk
    before compiling; `empirical_kernel` then checks XLA's own figures for the compiled programs).

    The kernel is held as its upper tiles U ≈ N²/2 + N·T/2 while it is computed; a streamed layer
    adds its two N × N factors as upper tiles (2U) and one chunk's activations and signals for
    every row; at the end the tiles are assembled into the N × N matrix; the eigensolver then
    works on a float64 copy."""
    n, N, k = spec.widths, plan.padded, spec.outputs
    T, t = plan.tile, plan.tiles
    item = jnp.dtype(dtype).itemsize
    total = spec.parameter_count * item + N * n[0] * item
    # Drawing a layer's weights (mlp.init) holds its random bits, the float64 draw and its scaled
    # copy at once: three float64 copies of the largest layer on top of the stored parameters.
    total += 3 * 8 * max(n[l] * n[l - 1] for l in range(1, len(n)))
    stored = [l for l in range(1, spec.depth) if not plan.streamed[l - 1]]
    total += sum((2 + k) * N * n[l] for l in stored) * item  # A_l and Δ_l of every row, h_l of a tile
    upper = tiles.upper_count(t) * T * T * item
    per_device = upper + 2 * T * T * item  # the kernel's tiles and one tile's products
    for l in plan.streamed_layers:
        _, c = _chunking(n[l], plan.chunk, plan.devices)
        # the layer's factors (2U), one chunk of a and Δ for every row, a tile's temporaries and
        # the chunk's weights
        buffers = (1 + k) * N * c + (4 + 2 * k) * T * c + c * (n[l + 1] + n[l - 1])
        per_device = max(per_device, 3 * upper + (buffers + 2 * T * T) * item)
    on_host = jax.default_backend() == "cpu"  # simulated CPU devices share the host's memory
    total += distributed.local_devices(plan.devices) * per_device if on_host else per_device
    square = plan.samples * plan.samples * item
    # the tiles and the matrix they are written into (on the host, then its copy as an XLA array)
    assembled = (spec.parameter_count * item
                 + (distributed.local_devices(plan.devices) if on_host else 1) * upper
                 + (2 if plan.host else 1) * square)
    eigen = square + plan.samples * plan.samples * 8  # the float64 copy the eigensolver works on
    return int(max(total, assembled, eigen))


def choose_plan(spec: MLPSpec, samples: int, dtype, chunk: int | None = None,
                devices: int | None = None, tile: int | None = None) -> Plan:
    """A plan that fits in memory: the given chunk, or the largest default-sized one that fits.
    Refuses before any allocation, naming the estimate and a chunk that would fit."""
    spec.act.require_derivative()
    n_dev = len(jax.devices()) if devices is None else int(devices)
    if not 1 <= n_dev <= len(jax.devices()):
        raise EngineError(f"devices must be between 1 and {len(jax.devices())}, got {devices}")
    if chunk is not None and chunk < 1:
        raise EngineError(f"chunk must be positive, got {chunk}")
    if tile is not None and tile < 1:
        raise EngineError(f"tile must be positive, got {tile}")
    what = f"the empirical NTK of {samples} samples through widths {list(spec.widths)}"
    available = backend.available_bytes()
    if chunk is not None:
        plan = make_plan(spec, samples, chunk, n_dev, dtype, tile)
        need = memory_estimate(spec, plan, dtype)
        if need > available:
            fit = _largest_fitting_chunk(spec, samples, n_dev, dtype, available, tile)
            hint = f"; --chunk {fit} would fit" if fit else "; no chunk size fits: use fewer samples"
            raise InsufficientMemory(what + f" with chunk {chunk}", need, available, hint)
        return plan
    fit = _largest_fitting_chunk(spec, samples, n_dev, dtype, available, tile)
    if fit is None:
        plan = make_plan(spec, samples, MIN_CHUNK, n_dev, dtype, tile)
        raise InsufficientMemory(what + f" even with chunk {MIN_CHUNK}",
                                 memory_estimate(spec, plan, dtype), available,
                                 "; use fewer samples or float32")
    return make_plan(spec, samples, fit, n_dev, dtype, tile)


def _largest_fitting_chunk(spec, samples, n_dev, dtype, available, tile=None):
    """Every layer stored whole where that fits (each wide layer's activation and matrix product
    then computed once, not again per chunk), else the largest of DEFAULT_CHUNK, DEFAULT_CHUNK/2,
    … down to MIN_CHUNK that fits; None if none does."""
    widest = max(spec.widths[1:-1], default=0)
    if widest > DEFAULT_CHUNK and memory_estimate(
            spec, make_plan(spec, samples, widest, n_dev, dtype, tile), dtype) <= available:
        return widest
    c = DEFAULT_CHUNK
    while c >= MIN_CHUNK:
        if memory_estimate(spec, make_plan(spec, samples, c, n_dev, dtype, tile), dtype) <= available:
            return c
        c //= 2
    return None


# --- the layer-wise kernel: passes, tiles, chunks ---------------------------------------------
#
# The kernel is computed by the host as a sequence of compiled steps (docs/engine.md#tiled-kernels):
#   1. the forward and backward passes of each tile's rows (the stored A_l and Δ_l);
#   2. each upper tile (i, j) of the terms of stored layers, Σ_l (Δ_l Δ_lᵀ) ⊙ (c_l·A A ᵀ + c_b);
#   3. per streamed layer m: its factors G = Δ_{m+1}Δ_{m+1}ᵀ and M = c_m·A_{m−1}A_{m−1}ᵀ + c_b per
#      upper tile; then per group of width chunks (one chunk per device), the chunk's a = φ(h_m)
#      and Δ_m for each tile's rows, and each upper tile's G ⊙ c·a_i a_jᵀ + Δ_i Δ_jᵀ ⊙ M;
#   4. the upper tiles mirrored into the N × N matrix.
# Every step is one call, so progress is reported and a cancel takes effect between tiles.

def _act_pair(spec: MLPSpec):
    """t ↦ (φ(s·t), d/dt φ(s·t)): where a layer needs one of the two, XLA drops the other."""
    return lambda t: spec.act.apply_and_derivative(t, spec.scale)


def _chunk_slicer(plan: Plan, m: int, params):
    """(chunk groups, chunk(i) ↦ (W_m rows, b_m, mask, W_{m+1} columns)) for layer m; group g
    holds chunks g·devices … g·devices + devices − 1, one per device.

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


def _mesh(plan: Plan) -> Mesh:
    return Mesh(np.array(jax.devices()[: plan.devices]), (_AXIS,))


def _over_devices(plan: Plan, local, *args):
    """Run local(device_index, *args) on every device (arguments replicated) and sum the results.
    One device runs it directly, so its carries can reuse the input buffers in place."""
    if plan.devices == 1:
        return local(0, *args)

    def body(*a):
        out = local(lax.axis_index(_AXIS), *a)
        return jax.tree.map(lambda t: lax.psum(t, _AXIS), out)

    return jax.shard_map(body, mesh=_mesh(plan), in_specs=(P(),) * len(args), out_specs=P())(*args)


def _first_device_only(plan: Plan, device, a):
    """The initial value of a summed carry: `a` on device 0, zeros elsewhere (exact after psum)."""
    if plan.devices == 1:
        return a
    return jnp.where(device == 0, a, jnp.zeros_like(a))  # varying across devices, as a carry must be


def _chunk_pre(spec, m, chunk, i, a_prev, delta_next):
    """One chunk of layer m on a block of rows: h_m, and ∂f/∂a_m = Δ_{m+1} c_w W_{m+1}[:, chunk]."""
    cw, cb = spec.forward_factors(m)
    cwn, _ = spec.forward_factors(m + 1)
    w, b, msk, wn = chunk(i)
    h = cw * _mm(a_prev, w.T) + cb * b
    up = None if delta_next is None else jnp.einsum("ikn,nc->ikc", delta_next, cwn * wn,
                                                    precision=_HI)
    return h, msk, w, wn, up


def _stream_forward(spec, plan, m, params, a_prev):
    """h_{m+1} (without its bias) = c_w Σ_chunks φ(h_m[:, chunk]) W_{m+1}[:, chunk]ᵀ."""
    act = _act_pair(spec)
    cwn, _ = spec.forward_factors(m + 1)
    groups, chunk = _chunk_slicer(plan, m, params)
    n_next = params[m]["W"].shape[0]

    def local(device, a_prev):
        def step(acc, g):
            h, msk, _, wn, _ = _chunk_pre(spec, m, chunk, g * plan.devices + device, a_prev, None)
            return acc + cwn * _mm(act(h)[0] * msk, wn.T), None

        acc0 = _first_device_only(plan, device, jnp.zeros((a_prev.shape[0], n_next), a_prev.dtype))
        return lax.scan(step, acc0, jnp.arange(groups))[0]

    return _over_devices(plan, local, a_prev)


def _stream_back(spec, plan, m, params, a_prev, delta_next):
    """Δ_m c_w W_m summed over the chunks of streamed layer m: the signal into layer m − 1."""
    act = _act_pair(spec)
    cw, _ = spec.forward_factors(m)
    groups, chunk = _chunk_slicer(plan, m, params)
    N, k = delta_next.shape[:2]

    def local(device, a_prev, delta_next):
        def step(back, g):
            h, msk, w, _, up = _chunk_pre(spec, m, chunk, g * plan.devices + device, a_prev,
                                          delta_next)
            d = up * (act(h)[1] * msk)[:, None, :]
            return back + jnp.einsum("ikc,cp->ikp", d, cw * w, precision=_HI), None

        back0 = _first_device_only(plan, device, jnp.zeros((N, k, a_prev.shape[1]), a_prev.dtype))
        return lax.scan(step, back0, jnp.arange(groups))[0]

    return _over_devices(plan, local, a_prev, delta_next)


def _passes(spec: MLPSpec, plan: Plan, params, x, ops=None):
    """Forward and backward passes of a block of rows: ({j: A_j} for the stored layers j < L,
    A_0 = x; {l: Δ_l} (rows × k × n_l) for the stored layers l ≤ L), what every tile is made of.
    A streamed layer's activations are summed over its chunks and never stored (traced by XLA
    only: host passes are for plans that stream nothing)."""
    ops = ops or XLA_OPS
    L = spec.depth
    act = ops.pair(spec)
    S, A = {}, {0: x}  # S_l = φ'(h_l), kept from the forward pass for the backward one
    for l in range(1, L + 1):
        if plan.streamed[l - 1]:
            continue
        if l >= 2 and plan.streamed[l - 2]:
            h = _stream_forward(spec, plan, l - 1, params, A[l - 2])
            _, cb = spec.forward_factors(l)
            if "b" in params[l - 1]:
                h = h + cb * params[l - 1]["b"]
        else:
            h = ops.pre(spec, l, params[l - 1], A[l - 1])
        if l < L:
            A[l], S[l] = act(h)

    N, k = x.shape[0], spec.outputs
    delta = ops.xp.broadcast_to(ops.xp.eye(k, dtype=x.dtype), (N, k, k))  # Δ_L = ∂f/∂h_L
    D = {}
    l = L
    while l >= 1:
        D[l] = delta
        if l >= 2 and plan.streamed[l - 2]:
            m = l - 1
            if m < 2:
                break
            delta = _stream_back(spec, plan, m, params, A[m - 1], delta) * S[m - 1][:, None, :]
            l = m - 1
            continue
        if l >= 2:
            cw, _ = spec.forward_factors(l)
            delta = ops.back(delta, params[l - 1]["W"], cw, S[l - 1])
        l -= 1
    return A, D


def _block_passes(spec: MLPSpec, plan: Plan, params, x, i):
    """`_passes` of the i-th tile's rows of x (padded to whole tiles)."""
    return _passes(spec, plan, params, lax.dynamic_slice_in_dim(x, i * plan.tile, plan.tile))


def _host_block_passes(spec: MLPSpec, plan: Plan, params, x, i):
    """`_block_passes` on the host: its matrix products by the host's BLAS, φ and φ' by XLA, on
    NumPy views of the arguments' buffers."""
    params, x = jax.tree.map(np.asarray, (params, x))
    i = int(i)
    return _passes(spec, plan, params, x[i * plan.tile:(i + 1) * plan.tile], HOST_OPS)


def _cross(a, b=None):
    """a bᵀ for two blocks of rows, flattening every axis but the first; b None: a aᵀ from three
    of its four half-blocks (a₀a₀ᵀ, a₀a₁ᵀ, a₁a₁ᵀ), the fourth mirrored, so a diagonal tile costs
    three quarters of a product rather than all of it."""
    a = a.reshape(a.shape[0], -1)
    if b is not None:
        return _mm(a, b.reshape(b.shape[0], -1).T)
    h = a.shape[0] // 2
    if h == 0:
        return _mm(a, a.T)
    a0, a1 = a[:h], a[h:]
    p01 = _mm(a0, a1.T)
    return jnp.block([[_mm(a0, a0.T), p01], [p01.T, _mm(a1, a1.T)]])


def _host_cross(a, b=None):
    """`_cross` by the host's BLAS on NumPy arrays: a aᵀ of one array is its symmetric product
    (NumPy calls syrk for a @ a.T), half the arithmetic of a product."""
    a = a.reshape(a.shape[0], -1)
    return a @ (a if b is None else b.reshape(b.shape[0], -1)).T


def _xla_back(delta, W, cw, slope):
    """Δ_{l−1} = (Δ_l · c_w W_l) ⊙ φ'(h_{l−1}) for Δ_l of rows × k × n_l."""
    return jnp.einsum("ikn,np->ikp", delta, cw * W, precision=_HI) * slope[:, None, :]


def _host_pre(spec: MLPSpec, l: int, layer: dict, a):
    """`mlp.layer_pre` by the host's BLAS, scaled and shifted in place (one array, not three)."""
    cw, cb = spec.forward_factors(l)
    h = a @ layer["W"].T
    h *= cw
    if "b" in layer:
        h += cb * layer["b"]
    return h


def _host_back(delta, W, cw, slope):
    """`_xla_back` by the host's BLAS: one product over rows × k, scaled in place."""
    d = (delta.reshape(-1, delta.shape[-1]) @ W).reshape(*delta.shape[:-1], W.shape[-1])
    d *= cw
    d *= slope[:, None, :]
    return d


def _pair_program(spec: MLPSpec, t):
    """`_act_pair` compiled ahead of time for t's shape (`_build_programs` asks for every shape
    the host passes will, so none compiles while the kernel runs)."""
    return compiled.program(("ntk.pair", spec), jax.jit(_act_pair(spec)), _sds(t))


def _host_pair(spec: MLPSpec):
    """`_act_pair` compiled, for NumPy arrays: XLA's φ and φ' (vectorised, sin and cos at once)
    read the host's array and give NumPy views of their results."""
    return lambda t: tuple(np.asarray(v) for v in _pair_program(spec, t)(t))


@dataclass(frozen=True)
class _Ops:
    """What the passes' and the tiles' formulas need from an array library: its module (zeros,
    eye), products (`cross`: a bᵀ of blocks of rows; `pre` and `back`: a layer's forward and
    backward step) and the activation's (φ, φ') for a network. The formulas are written once and
    run either traced by XLA (compiled, on any device) or on the host on NumPy views of XLA's
    buffers (Plan.host)."""

    xp: object
    cross: object
    pre: object
    back: object
    pair: object

    @property
    def zeros(self):
        return self.xp.zeros


XLA_OPS = _Ops(jnp, _cross, mlp.layer_pre, _xla_back, _act_pair)
HOST_OPS = _Ops(np, _host_cross, _host_pre, _host_back, _host_pair)


def _stored_tile(spec: MLPSpec, plan: Plan, fi, fj=None, ops: _Ops = XLA_OPS):
    """Tile (i, j) of the terms that need no streamed activations, from the two blocks' passes
    (fj None: the diagonal tile (i, i)): Σ_l (Δ_l Δ_lᵀ) ⊙ (c_l·A_{l−1}A_{l−1}ᵀ + c_b) over stored
    l with a stored input, and the bias term c_b·Δ_l Δ_lᵀ of a layer fed by a streamed one (its
    weight term comes with the chunks)."""
    A, D = fi[0], fi[1]
    Aj, Dj = (A, D) if fj is None else fj
    K = ops.zeros((A[0].shape[0], Aj[0].shape[0]), A[0].dtype)
    for l in range(spec.depth, 0, -1):
        if plan.streamed[l - 1]:
            continue
        c_l, cb_l = spec.ntk_factors(l)
        g = ops.cross(D[l], None if fj is None else Dj[l])
        if l >= 2 and plan.streamed[l - 2]:
            if not cb_l:
                continue
            term = cb_l * g
        else:
            term = g * (c_l * ops.cross(A[l - 1], None if fj is None else Aj[l - 1]) + cb_l)
        K = K + term
    return K


def _factor_tile(spec: MLPSpec, m: int, fi, fj=None, ops: _Ops = XLA_OPS):
    """Tile (i, j) of streamed layer m's factors (fj None: diagonal):
    G = Δ_{m+1}Δ_{m+1}ᵀ, M = c_m·A_{m−1}A_{m−1}ᵀ + c_b."""
    c_m, cb_m = spec.ntk_factors(m)
    G = ops.cross(fi[1][m + 1], None if fj is None else fj[1][m + 1])
    return G, c_m * ops.cross(fi[0][m - 1], None if fj is None else fj[0][m - 1]) + cb_m


def _chunk_features(spec: MLPSpec, plan: Plan, m: int, params, a_prev, delta_next, group):
    """For a block of rows and each device's chunk of group `group`: a = φ(h_m[:, chunk]) and
    Δ_m[:, :, chunk] flattened to rows × k·c, stacked over devices (devices × rows × …)."""
    act = _act_pair(spec)
    _, chunk = _chunk_slicer(plan, m, params)

    def local(device, a_prev, delta_next, group):
        h, msk, _, _, up = _chunk_pre(spec, m, chunk, group * plan.devices + device, a_prev,
                                      delta_next)
        a, slope = act(h)
        d = up * (slope * msk)[:, None, :]
        return (a * msk)[None], d.reshape(d.shape[0], -1)[None]

    if plan.devices == 1:
        return local(0, a_prev, delta_next, group)
    return jax.shard_map(lambda *a: local(lax.axis_index(_AXIS), *a), mesh=_mesh(plan),
                         in_specs=(P(),) * 3, out_specs=(P(_AXIS), P(_AXIS)))(
        a_prev, delta_next, group)


def _chunk_tile(spec: MLPSpec, plan: Plan, m: int, K, G, M, ai, di, aj=None, dj=None,
                ops: _Ops = XLA_OPS):
    """Tile (i, j) of the kernel plus one chunk group's share of streamed layer m's two terms:
    G ⊙ c_{m+1}·a_i a_jᵀ + Δ_i Δ_jᵀ ⊙ M, the products summed over the devices' chunks
    (aj, dj None: the diagonal tile (i, i))."""
    c_next, _ = spec.ntk_factors(m + 1)
    blocks = (ai, di) if aj is None else (ai, di, aj, dj)

    def products(*b):
        if len(b) == 2:
            return ops.cross(b[0][0]), ops.cross(b[1][0])
        return ops.cross(b[0][0], b[2][0]), ops.cross(b[1][0], b[3][0])

    if plan.devices == 1:
        X, Y = products(*blocks)
    else:
        X, Y = jax.shard_map(
            lambda *a: jax.tree.map(lambda t: lax.psum(t, _AXIS), products(*a)), mesh=_mesh(plan),
            in_specs=(P(_AXIS),) * len(blocks), out_specs=(P(), P()))(*blocks)
    return K + G * (c_next * X) + Y * M


def _whole(spec: MLPSpec, plan: Plan, params, x):
    """The kernel of a one-tile plan without streamed layers, in one program."""
    K = _stored_tile(spec, plan, _passes(spec, plan, params, x))
    return (K + K.T) * 0.5


@dataclass
class _Programs:
    """The compiled steps of one (network, plan, shapes); `run` computes the kernel. Tile programs
    come in pairs: [0] for a tile off the diagonal (two blocks), [1] for a diagonal one."""

    plan: Plan
    whole: object = None
    passes: object = None
    stored: tuple = ()
    factors: dict = field(default_factory=dict)  # per streamed layer
    features: dict = field(default_factory=dict)
    chunk_tile: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)  # chunk groups per streamed layer
    assemble: object = None
    replicated: object = None  # the sharding of every argument with several devices

    def all(self) -> list:
        """The compiled programs (a host step has no XLA program)."""
        out = [self.whole, self.passes, *self.stored, self.assemble, *self.features.values()]
        for d in (self.factors, self.chunk_tile):
            for pair in d.values():
                out += list(pair)
        return [p for p in out if isinstance(p, jax.stages.Compiled)]

    @property
    def panels(self) -> bool:
        """Host steps with nothing streamed: each block's passes are gathered into arrays of all
        the rows, and the tiles right of a diagonal tile are formed by one product, a row panel
        (BLAS runs one wide product faster than several narrow ones)."""
        return self.plan.host and not self.plan.streamed_layers

    @property
    def steps(self) -> int:
        """Steps `run` reports: one per block of passes, per tile (per diagonal tile and row
        panel with `panels`), per chunk group's blocks and tiles, and the assembly."""
        if self.plan.fused:
            return 1
        t, u = self.plan.tiles, tiles.upper_count(self.plan.tiles)
        if self.panels:
            return t + t + (t - 1) + 1
        return t + u + sum(u + g * (t + u) for g in self.groups.values()) + 1

    def _put(self, a):
        return a if self.replicated is None else jax.device_put(a, self.replicated)

    def _index(self, i: int):
        # a host value when the mesh may span processes (a local device array would be refused)
        return jnp.asarray(i, _INDEX) if self.replicated is None else self._put(np.asarray(i, _INDEX))

    def run(self, params, x, progress=None):
        plan = self.plan
        params, x = self._put(params), self._put(x)
        tick = tiles.Ticker(self.steps, progress)
        if plan.fused:
            K = self.whole(params, x)
            tick.step(K)
            tick.finish()
            return K
        t, N = plan.tiles, plan.samples
        if plan.padded > N:  # whole tiles; the extra rows are sliced off at the end
            x = self._put(jnp.pad(x, ((0, plan.padded - N), (0, 0))))
        pairs = tiles.upper(t)

        def tile(prog, i, j, *args):
            """prog[diagonal] on tile (i, j) from the blocks' arguments args(i) (+ args(j))."""
            return prog[1](*args[0], *args[1](i)) if i == j else \
                prog[0](*args[0], *args[1](i), *args[1](j))

        if self.panels:
            return self._assembled(self._panels(params, x, tick), pairs, tick)
        feats = []
        for i in range(t):
            feats.append(self.passes(params, x, self._index(i)))
            tick.step(feats[-1])
        K = {}
        for i, j in pairs:
            K[i, j] = tile(self.stored, i, j, (), lambda b: (feats[b],))
            tick.step(K[i, j])
        for m, groups in self.groups.items():
            factors = {}
            for i, j in pairs:
                factors[i, j] = tile(self.factors[m], i, j, (), lambda b: (feats[b],))
                tick.step(factors[i, j])
            for g in range(groups):
                group, chunk = self._index(g), []
                for i in range(t):
                    chunk.append(self.features[m](params, feats[i][0][m - 1], feats[i][1][m + 1],
                                                  group))
                    tick.step(chunk[-1])
                for i, j in pairs:
                    K[i, j] = tile(self.chunk_tile[m], i, j, (K[i, j], *factors[i, j]),
                                   lambda b: chunk[b])
                    tick.step(K[i, j])
            factors = chunk = None  # freed before the next layer's (and the assembly's) memory
        del feats
        return self._assembled(K, pairs, tick)

    def _assembled(self, K: dict, pairs: list, tick):
        """The N × N matrix from the upper tiles K (emptied), the last step."""
        parts = tuple(K.pop(ij) for ij in pairs)
        if self.plan.host:
            out = jnp.asarray(tiles.assemble_host(parts, self.plan.samples))
            del parts
        else:
            if self.plan.devices > 1:  # replicated: assemble device 0's copies on device 0 alone
                parts = tuple(p.addressable_shards[0].data for p in parts)
            out = self.assemble(parts)
        tick.step(out)
        tick.finish()
        return out

    def _panels(self, params, x, tick) -> dict:
        """The upper tiles of a stored network on the host (see `panels`): each block's passes
        are copied into the arrays of all rows as soon as they are made."""
        T, t = self.plan.tile, self.plan.tiles
        rows = None
        for i in range(t):
            block = self.passes(params, x, i)
            if rows is None:
                rows = jax.tree.map(lambda a: np.empty((self.plan.padded, *a.shape[1:]), a.dtype),
                                    block)
            jax.tree.map(lambda whole, a: whole.__setitem__(slice(i * T, (i + 1) * T), a), rows,
                         block)
            del block
            tick.finished()
        K = {}
        for i in range(t):
            block = jax.tree.map(lambda a: a[i * T:(i + 1) * T], rows)
            K[i, i] = self.stored[1](block)
            tick.step(K[i, i])
            if i + 1 < t:
                panel = self.stored[0](block, jax.tree.map(lambda a: a[(i + 1) * T:], rows))
                for j in range(i + 1, t):
                    K[i, j] = panel[:, (j - i - 1) * T:(j - i) * T]
                tick.step(panel)
        return K


def _sds(a, sharding=None):
    return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)


def _programs(spec: MLPSpec, plan: Plan, params, x) -> _Programs:
    """Every step of the layer-wise kernel compiled ahead of time for the shapes of params and x
    (arrays or ShapeDtypeStructs), from the engine's cache: a study that revisits a network, or a
    test suite, does not lower and compile them again."""
    return compiled.cached(("ntk.layerwise", spec, plan, compiled.signature((params, x))),
                           lambda: _build_programs(spec, plan, params, x))


def _both(plan: Plan, fn, off: tuple, diagonal: tuple):
    """fn for a tile off the diagonal (arguments `off`) and a diagonal one: compiled, or with
    plan.host a host step (the same function on NumPy views of its arguments' buffers)."""
    if plan.host:
        def host(*args):
            return fn(*jax.tree.map(np.asarray, args), ops=HOST_OPS)

        return host, host
    return (jax.jit(fn).lower(*off).compile(), jax.jit(fn).lower(*diagonal).compile())


def _build_programs(spec: MLPSpec, plan: Plan, params, x) -> _Programs:
    rep = split = None
    if plan.devices > 1:
        from jax.sharding import NamedSharding

        rep = NamedSharding(_mesh(plan), P())
        split = NamedSharding(_mesh(plan), P(_AXIS))
    shape = lambda tree, s=rep: jax.tree.map(lambda a: _sds(a, s), tree)  # noqa: E731
    params, x = shape(params), shape(x)
    progs = _Programs(plan, replicated=rep)
    if plan.fused:
        progs.whole = jax.jit(partial(_whole, spec, plan)).lower(params, x).compile()
        return progs
    T = plan.tile
    xp = _sds(jax.ShapeDtypeStruct((plan.padded, x.shape[1]), x.dtype), rep)
    index = _sds(jax.ShapeDtypeStruct((), _INDEX), rep)
    passes = partial(_block_passes, spec, plan)
    if progs.panels:  # the passes on the host too
        progs.passes = partial(_host_block_passes, spec, plan)
        for n in spec.widths[1:-1]:
            _pair_program(spec, jax.ShapeDtypeStruct((T, n), x.dtype))
    else:
        progs.passes = jax.jit(passes).lower(params, xp, index).compile()
    f = shape(jax.eval_shape(passes, params, xp, index))
    progs.stored = _both(plan, partial(_stored_tile, spec, plan), (f, f), (f,))
    tile = _sds(jax.ShapeDtypeStruct((T, T), x.dtype), rep)
    for m in plan.streamed_layers:
        progs.groups[m] = _chunk_slicer(plan, m, params)[0]
        progs.factors[m] = _both(plan, partial(_factor_tile, spec, m), (f, f), (f,))
        feat = partial(_chunk_features, spec, plan, m)
        args = (params, f[0][m - 1], f[1][m + 1], index)
        progs.features[m] = jax.jit(feat).lower(*args).compile()
        a, d = (_sds(s, split) for s in jax.eval_shape(feat, *args))
        progs.chunk_tile[m] = _both(plan, partial(_chunk_tile, spec, plan, m),
                                    (tile, tile, tile, a, d, a, d), (tile, tile, tile, a, d))
    if plan.host:
        return progs
    single = jax.ShapeDtypeStruct((T, T), x.dtype)
    progs.assemble = tiles.assemble.lower((single,) * tiles.upper_count(plan.tiles),
                                          n=plan.samples).compile()
    return progs


def layerwise_ntk(spec: MLPSpec, params, x, *, chunk: int | None = None,
                  devices: int | None = None, tile: int | None = None, progress=None):
    """The empirical NTK matrix (N × N) by the layer-wise formula; see the module docstring.
    `tile` overrides the platform's tile size; progress(done, total) is called after each step."""
    x = jnp.asarray(x)
    plan = choose_plan(spec, x.shape[0], x.dtype, chunk, devices, tile)
    return _programs(spec, plan, params, x).run(params, x, progress)


# --- the autodiff reference -----------------------------------------------------------------

def autodiff_ntk(f, params, x, *, block: int | None = None, progress=None) -> np.ndarray:
    """K = Σ_outputs J Jᵀ with J = ∂f/∂θ by automatic differentiation, for any JAX function
    f(params, x) that maps a batch (N, …) to (N,) or (N, k) sample by sample.

    With `block` None the whole Jacobian (N × parameters) is formed and contracted. With a block
    size, memory is O(block · parameters): the Jacobian of `block` samples is formed at a time and
    its rows are pushed forward through f (jvp) on the blocks of rows on or above the diagonal,
    giving the upper tiles of K, mirrored; progress(done, total) is called after each tile."""
    x = jnp.asarray(x)
    N = x.shape[0]
    jacobian, tree_jacobian, push = _autodiff_programs(f)
    if block is None or block >= N:
        J = jacobian(params, x)
        return np.asarray(_contract(J, J))
    t = tiles.count(N, block)
    pad = t * block - N
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))]) if pad else x
    rows = [xp[i * block:(i + 1) * block] for i in range(t)]
    K = np.empty((t * block, t * block), np.dtype(x.dtype))
    tick = tiles.Ticker(tiles.upper_count(t), progress)
    for j in range(t):
        Jj = tree_jacobian(params, rows[j])
        for i in range(j + 1):
            tile = np.asarray(push(params, rows[i], Jj))
            K[i * block:(i + 1) * block, j * block:(j + 1) * block] = tile
            K[j * block:(j + 1) * block, i * block:(i + 1) * block] = tile.T
            tick.finished()
    K = K[:N, :N]
    return (K + K.T) / 2  # the diagonal tiles are exact up to round-off; symmetrise it away


def _autodiff_programs(f):
    """The jitted (flat Jacobian, Jacobian tree, tile by products) programs for f, built once per
    function (in the engine's cache), so each compiles once per shape."""
    return compiled.cached(("ntk.autodiff", f), lambda: _build_autodiff_programs(f))


def _build_autodiff_programs(f):
    def per_sample(params, xi):
        return jax.jacrev(lambda p: jnp.reshape(f(p, xi[None]), (-1,)))(params)  # leaves (k, …)

    def tree_jacobian(params, xb):
        return jax.vmap(per_sample, in_axes=(None, 0))(params, xb)  # leaves (b, k, …)

    def flat_jacobian(params, xb):
        tree = tree_jacobian(params, xb)
        return jnp.concatenate([j.reshape(j.shape[0], j.shape[1], -1)
                                for j in jax.tree.leaves(tree)], axis=2)  # (b, k, P)

    def push(params, x, tree):
        """K(x, x_b) for the block whose Jacobian is `tree`: its rows pushed through f on x."""
        b, k = jax.tree.leaves(tree)[0].shape[:2]
        tangents = jax.tree.map(lambda j: j.reshape(b * k, *j.shape[2:]), tree)

        def one(t):  # J(x) t on every input: one column of J Jᵀ per tangent
            return jax.jvp(lambda p: jnp.reshape(f(p, x), (x.shape[0], -1)), (params,), (t,))[1]

        out = jax.vmap(one)(tangents).reshape(b, k, x.shape[0], k)
        return jnp.einsum("bknk->nb", out)

    return jax.jit(flat_jacobian), jax.jit(tree_jacobian), jax.jit(push)


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
    compile_s: float  # compiling every step and drawing the parameters
    kernel_s: float  # the kernel alone
    spectrum_s: float  # its eigenvalues (and the host copy of the matrix when kept)

    @property
    def compute_s(self) -> float:
        return self.kernel_s + self.spectrum_s


def empirical_kernel(spec: MLPSpec, x, *, seed: int = 0, dtype="float64", chunk: int | None = None,
                     devices: int | None = None, keep_matrix: bool = False,
                     tile: int | None = None, progress=None) -> KernelResult:
    """Initialise the network (seeded), compute its empirical NTK on x and the kernel's spectrum.
    Compilation, the kernel and its eigenvalues are timed apart; memory is checked before anything
    is allocated; progress(done, total) is called after each step of the kernel (a cancel raised
    there stops it between tiles)."""
    dtype = jnp.dtype(dtype)
    x = check_data(x, spec.widths[0])
    N = x.shape[0]
    plan = choose_plan(spec, N, dtype, chunk, devices, tile)
    start = time.perf_counter()
    shapes = jax.eval_shape(lambda: mlp.init(spec, 0, dtype))
    programs = _programs(spec, plan, shapes, jax.ShapeDtypeStruct(x.shape, dtype))
    need = max([memory_estimate(spec, plan, dtype), N * N * (dtype.itemsize + 8),
                *(_compiled_bytes(p, plan) for p in programs.all())])
    available = backend.available_bytes()
    if need > available:  # XLA's own count, checked before the parameters are even drawn
        raise InsufficientMemory(f"the empirical NTK of {N} samples through widths "
                                 f"{list(spec.widths)} with chunk {plan.chunk}", need, available,
                                 "; try a smaller --chunk")
    params = mlp.init(spec, seed, dtype)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    if distributed.active():  # host values: the same replicated value on every process's mesh
        K = programs.run(distributed.replicated(params), np.asarray(x, dtype), progress)
    else:
        K = programs.run(params, jnp.asarray(x, dtype), progress)
    del params
    kernel_s = time.perf_counter() - start
    if not distributed.is_main():  # the spectrum and the results are process 0's
        jax.block_until_ready(K)
        return KernelResult(spec, N, dtype.name, plan, need, None, None, compile_s, kernel_s, 0.0)
    start = time.perf_counter()
    spectrum = kernel_spectrum(K, dtype)
    matrix = np.asarray(K) if keep_matrix else None
    spectrum_s = time.perf_counter() - start
    return KernelResult(spec, N, dtype.name, plan, need, spectrum, matrix, compile_s, kernel_s,
                        spectrum_s)


def _compiled_bytes(program, plan: Plan) -> int:
    """Arguments, outputs and temporaries of a compiled program, from XLA's buffer assignment."""
    try:
        m = program.memory_analysis()
        per = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
    except Exception:  # not every backend reports it; the size-based estimate stands in
        return 0
    return int(per * (distributed.local_devices(plan.devices)
                      if jax.default_backend() == "cpu" else 1))
