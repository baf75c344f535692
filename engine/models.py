"""The exact empirical NTK of any model (docs/models.md).

A model is f(params, x) → (N, k) for a batch x, each output depending on its own sample only, with
a pytree of parameters. `as_model` turns the forms a user may hold into one `Model`: a function
with its parameters, a Flax NNX module, an Equinox module, a Flax Linen module with its variables,
or one of ntk's own MLPs as (MLPSpec, params). Flax and Equinox are imported only for their models.

`empirical_ntk` computes K(x1, x2) = Σ_leaves J_leaf(x1) J_leaf(x2)ᵀ exactly, by one of three
implementations chosen from a cost model (XLA's flop count of one forward pass and the parameter
count) or by name:

- "contraction": per-sample Jacobians of a block of samples, contracted block against block;
- "products": the Jacobian rows of a block of x2 pushed forward through f on x1 (jvp): K's columns
  as J(x1) (J(x2)ᵀ e_j);
- "layerwise": engine.ntk's layer-wise formula, for ntk's own MLPs (x1 = x2, trace over outputs).

Memory is estimated from sizes before anything is allocated, and checked again against XLA's own
figure for the compiled block programs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from engine import backend
from engine.errors import EngineError, InsufficientMemory

backend.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from engine import mlp, ntk, tiles  # noqa: E402
from engine.mlp import MLPSpec  # noqa: E402

IMPLEMENTATIONS = ("auto", "contraction", "products", "layerwise")
OUTPUTS = ("trace", "full")
_HI = lax.Precision.HIGHEST
# What the blocks of one implementation may hold at once, at most (their temporaries included).
BLOCK_BUDGET = 1024**3


# --- one form for every model -----------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Model:
    """fn(params, state, x) → outputs with leading axis N; `params` are differentiated, `state`
    (Flax collections other than params, NNX's non-parameter state) is passed along unchanged.
    Both are arguments of every compiled program, never constants closed over."""

    fn: Callable
    params: Any
    state: Any = None
    kind: str = "function"  # function, nnx, equinox, linen, mlp
    spec: MLPSpec | None = None
    _programs: dict = field(default_factory=dict, repr=False)

    @property
    def parameter_count(self) -> int:
        return int(sum(np.size(a) for a in jax.tree.leaves(self.params)))

    def apply(self, x, params=None):
        """f on a batch, as an (N, k) array."""
        return _as_rows(self.fn(self.params if params is None else params, self.state, x), x)

    def astype(self, dtype) -> "Model":
        """The same model with its floating parameters and state cast to dtype (itself where they
        already are; the cast model is kept, with its compiled programs)."""
        dtype = jnp.dtype(dtype)
        floating = [a.dtype for a in jax.tree.leaves((self.params, self.state))
                    if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)]
        if all(d == dtype for d in floating):
            return self
        cast = lambda t: jax.tree.map(lambda a: _cast(a, dtype), t)  # noqa: E731
        return self.program(("astype", dtype.name), lambda: Model(
            self.fn, cast(self.params), cast(self.state), self.kind, self.spec))

    def program(self, name: str, build: Callable):
        """A jitted program of this model, built once."""
        if name not in self._programs:
            self._programs[name] = build()
        return self._programs[name]


def _cast(a, dtype):
    if isinstance(a, (jax.Array, np.ndarray)) and jnp.issubdtype(a.dtype, jnp.floating):
        return jnp.asarray(a, dtype)
    return a


def _as_rows(out, x):
    out = jnp.asarray(out)
    n = x.shape[0]
    if out.ndim == 0 or out.shape[0] != n:
        raise EngineError(f"the model returned shape {tuple(out.shape)} for a batch of {n} samples: "
                          "its outputs must have the batch as their first axis")
    return out.reshape(n, -1)


def _library(obj, prefix: str) -> bool:
    """Whether obj's class comes from a library (checked without importing the library)."""
    return any(getattr(c, "__module__", "").startswith(prefix) for c in type(obj).__mro__)


def as_model(obj, params=None) -> Model:
    """One Model from any of the forms a user may hold:

    - a Model (returned as it is);
    - (apply, params) or apply with params=: a function apply(params, x) on a batch;
    - (MLPSpec, params): one of ntk's own MLPs (the layer-wise path applies);
    - a Flax NNX module (its nnx.Param variables are differentiated);
    - an Equinox module (its floating arrays are differentiated; it is applied per sample);
    - (Flax Linen module, variables) or module with params=variables ("params" is differentiated).
    """
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, tuple) and params is None:
        if len(obj) != 2:
            raise EngineError(f"a model tuple must be (apply, params), got {len(obj)} items")
        obj, params = obj
    if isinstance(obj, MLPSpec):
        if params is None:
            raise EngineError("an MLPSpec needs its parameters: (spec, params)")
        spec = obj
        return Model(lambda p, s, x: mlp.apply(spec, p, x), params, None, "mlp", spec)
    if _library(obj, "flax.nnx"):
        from flax import nnx

        graphdef, ps, rest = nnx.split(obj, nnx.Param, ...)
        return Model(lambda p, s, x: nnx.merge(graphdef, p, s)(x), ps, rest, "nnx")
    if _library(obj, "flax.linen"):
        if params is None or "params" not in params:
            raise EngineError("a Flax Linen module needs its variables (a dict with 'params'): "
                              "return (module, variables)")
        module = obj
        rest = {c: v for c, v in params.items() if c != "params"}
        return Model(lambda p, s, x: module.apply({**s, "params": p}, x), params["params"], rest,
                     "linen")
    if _library(obj, "equinox"):
        import equinox as eqx

        ps, static = eqx.partition(obj, eqx.is_inexact_array)
        return Model(lambda p, s, x: jax.vmap(eqx.combine(p, static))(x), ps, None, "equinox")
    if callable(obj):
        if params is None:
            raise EngineError("a plain function needs its parameters: return (apply, params)")
        f = obj
        return Model(lambda p, s, x: f(p, x), params, None, "function")
    raise EngineError(f"not a model: {type(obj).__name__} (expected a function with its parameters, "
                      "a Flax NNX or Linen module, an Equinox module or (MLPSpec, params))")


def check_per_sample(model: Model, x, *, rows: int = 6) -> int:
    """Refuse a model whose outputs mix samples (batch statistics, attention across the batch),
    for which the NTK of this module is not defined: changing one sample must leave the others'
    outputs unchanged, and one sample alone must give its output in the batch. Returns k."""
    x = jnp.asarray(x)
    n = min(rows, x.shape[0])
    xs = x[:n]
    out = np.asarray(model.apply(xs))
    if not np.all(np.isfinite(out)):
        raise EngineError("the model's outputs contain NaN or infinite values")
    tol = 1e3 * float(jnp.finfo(out.dtype).eps) * (float(np.abs(out).max()) + 1.0)
    if n >= 2:
        other = xs[n - 1] + 0.5 * (xs[0] - xs[n - 1]) + 0.25  # a new sample, not one of the batch
        changed = np.asarray(model.apply(xs.at[0].set(other)))
        if np.abs(changed[1:] - out[1:]).max() > tol:
            raise EngineError("the model's outputs mix samples: changing one sample changed the "
                              "outputs of the others (batch statistics or attention across the "
                              "batch); the NTK needs each sample mapped on its own")
    alone = np.asarray(model.apply(xs[1:2] if n >= 2 else xs[:1]))
    if np.abs(alone[0] - out[1 if n >= 2 else 0]).max() > tol:
        raise EngineError("the model's output for a sample depends on the batch it comes in "
                          "(one sample alone gives another value); the NTK needs each sample "
                          "mapped on its own")
    return int(out.shape[1])


# --- per-sample Jacobians and the block programs ---------------------------------------------

def _per_sample_jacobian(model: Model, params, state, xb):
    """Leaves (B, k, *leaf shape): ∂f(x_b)/∂θ for each sample of the block."""
    def one(xi):
        return jax.jacrev(lambda p: _as_rows(model.fn(p, state, xi[None]), xi[None])[0])(params)

    return jax.vmap(one)(xb)


def _contract(Ja, Jb, full: bool):
    """Σ_leaves of Ja Jbᵀ: (A, B) summed over outputs, or (A, k, B, k)."""
    spec = "akp,blp->akbl" if full else "akp,bkp->ab"
    terms = [jnp.einsum(spec, a.reshape(a.shape[0], a.shape[1], -1),
                        b.reshape(b.shape[0], b.shape[1], -1), precision=_HI)
             for a, b in zip(jax.tree.leaves(Ja), jax.tree.leaves(Jb))]
    return sum(terms[1:], terms[0])


def _push(model: Model, params, state, x, J, full: bool):
    """J(x) t for every tangent t among the Jacobian rows J (leaves (B, k, …)): the kernel's
    columns K(x, x_B), (N, B) summed over outputs or (N, k, B, k)."""
    B, k = jax.tree.leaves(J)[0].shape[:2]
    tangents = jax.tree.map(lambda j: j.reshape(B * k, *j.shape[2:]), J)

    def one(t):
        return jax.jvp(lambda p: _as_rows(model.fn(p, state, x), x), (params,), (t,))[1]

    out = jax.vmap(one)(tangents).reshape(B, k, x.shape[0], -1)  # (B, k_tangent, N, k_out)
    if full:
        return jnp.transpose(out, (2, 3, 0, 1))
    return jnp.einsum("bknk->nb", out)


def _jacobian_program(model):
    return lambda p, s, xb: _per_sample_jacobian(model, p, s, xb)


# --- the cost model -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Costs:
    """Estimated flops of each implementation and what they rest on."""

    forward_flops: float  # one forward pass of one sample (XLA's cost analysis)
    activation_bytes: float  # temporaries of one sample's forward pass (XLA's memory analysis)
    parameters: int
    outputs: int
    flops: dict

    def as_dict(self) -> dict:
        return {"forward_flops_per_sample": self.forward_flops, "parameters": self.parameters,
                "outputs": self.outputs, "flops": dict(self.flops)}


def forward_profile(model: Model, sample_shape, dtype, rows: int = 64) -> tuple[float, float]:
    """(flops, temporary bytes) of one sample's forward pass, from XLA's analyses of the compiled
    forward pass on `rows` samples."""
    x = jax.ShapeDtypeStruct((rows, *sample_shape), dtype)
    compiled = model.program(("forward", x.shape, jnp.dtype(dtype).name), lambda: jax.jit(
        lambda p, s, x: _as_rows(model.fn(p, s, x), x)).lower(model.params, model.state, x).compile())
    flops = 0.0
    try:
        ca = compiled.cost_analysis()
        ca = ca[0] if isinstance(ca, (list, tuple)) else ca
        flops = float(ca.get("flops", 0.0)) / rows
    except Exception:  # not every backend reports it: fall back on two flops per parameter
        pass
    if not flops > 0:
        flops = 2.0 * model.parameter_count
    try:
        temp = float(compiled.memory_analysis().temp_size_in_bytes) / rows
    except Exception:
        temp = 0.0
    item = jnp.dtype(dtype).itemsize
    return flops, max(temp, 4.0 * item * math.prod(sample_shape))


# Writing a per-sample Jacobian is memory-bound (an outer product per weight matrix); measured on
# the 2-core CPU (benchmarks/models.py) it costs about 20 flops' time per byte, and contracting two
# Jacobian blocks about 2.5 times its flop count. Products (jvp) run near the matmul rate.
JACOBIAN_BYTE_FLOPS = 20.0
CONTRACTION_OVERHEAD = 2.5


def estimate_costs(model: Model, n1: int, n2: int, k: int, symmetric: bool, full: bool,
                   forward_flops: float, activation_bytes: float, item: int,
                   block: int | None = None) -> Costs:
    """Estimated cost (flop-equivalents) of each implementation with its block size: the given
    one, or the default the implementation would use."""
    P, F = model.parameter_count, forward_flops
    pairs = n1 * n2 / 2 if symmetric else n1 * n2
    # one sample's Jacobian: a forward pass, k backward passes, and k·P numbers written
    jac = (1 + 2 * k) * F + JACOBIAN_BYTE_FLOPS * k * P * item
    bc = block or _default_block("contraction", model, n1, n2, k, full, activation_bytes, item)
    bp = block or _default_block("products", model, n1, n2, k, full, activation_bytes, item)
    # column blocks are recomputed for each row block
    recomputed = n1 + math.ceil(n1 / bc) * n2 / (2 if symmetric else 1)
    flops = {
        "contraction": recomputed * jac
        + CONTRACTION_OVERHEAD * 2.0 * pairs * k * (k if full else 1) * P,
        "products": n2 * jac + n1 * n2 * k * 2 * F + math.ceil(n2 / bp) * n1 * F,
    }
    if model.kind == "mlp" and symmetric:
        n = model.spec.widths
        flops["layerwise"] = sum(2.0 * n1 * n1 * (n[l - 1] + n[l]) + 4.0 * n1 * n[l - 1] * n[l]
                                 for l in range(1, len(n)))
    return Costs(F, activation_bytes, P, k, flops)


def memory_need(impl: str, model: Model, n1: int, n2: int, k: int, full: bool, block: int,
                activation_bytes: float, item: int) -> int:
    """Bytes an implementation holds at its peak with this block size, from sizes alone."""
    P = model.parameter_count
    base = (P + n1 + n2) * item + _kernel_bytes(n1, n2, k, full, item)
    b = min(block, n1, n2)
    if impl == "contraction":
        # two blocks of Jacobian rows and the contraction's copy of one (XLA's layout), or one held
        # block and the vmapped reverse passes that make the next
        return int(base + 3 * b * k * P * item + b * (1 + k) * activation_bytes)
    if impl == "products":
        # one block of Jacobian rows as tangents, pushed through all of x1 at once (the jvp holds
        # tangent activations for every tangent and sample)
        return int(base + 2 * b * k * P * item + b * (1 + k) * activation_bytes
                   + 2 * b * k * n1 * activation_bytes + b * k * n1 * k * item)
    raise AssertionError(impl)


def _default_block(impl, model, n1, n2, k, full, act, item) -> int:
    """The largest power of two (≤ 256) whose blocks stay within BLOCK_BUDGET."""
    base = memory_need(impl, model, n1, n2, k, full, 1, act, item) - \
        memory_need(impl, model, n1, n2, k, full, 0, act, item)
    b = 256
    while b > 1 and b * base > BLOCK_BUDGET:
        b //= 2
    return max(1, min(b, n1, n2))


# --- the entry point --------------------------------------------------------------------------

@dataclass
class NTKResult:
    matrix: np.ndarray  # (N1, N2) summed over outputs, or (N1·k, N2·k) with index i·k + o
    implementation: str
    reason: str
    outputs: str
    samples: tuple[int, int]
    out_dim: int
    dtype: str
    block: int | None
    memory_estimate: int
    costs: Costs
    compile_s: float
    compute_s: float

    def as_dict(self) -> dict:
        return {"implementation": self.implementation, "reason": self.reason,
                "outputs": self.outputs, "samples": list(self.samples), "out_dim": self.out_dim,
                "dtype": self.dtype, "block": self.block, "memory_estimate": self.memory_estimate,
                "costs": self.costs.as_dict(), "compile_s": self.compile_s,
                "compute_s": self.compute_s}


def _check_data(x, name: str):
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 1:
        raise EngineError(f"{name} must be a batch (N × …) of at least one sample, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise EngineError(f"{name} contains NaN or infinite values")
    return x


def choose_implementation(model: Model, n1: int, n2: int, k: int, *, symmetric: bool, full: bool,
                          costs: Costs, item: int, available: int,
                          implementation: str = "auto") -> tuple[str, str]:
    """(implementation, why): the layer-wise formula where it applies, else the cheaper of the
    generic two by the cost model among those whose smallest blocks fit in memory."""
    if implementation not in IMPLEMENTATIONS:
        raise EngineError(f"unknown implementation {implementation!r}; choose one of: "
                          f"{', '.join(IMPLEMENTATIONS)}")
    layerwise_ok = model.kind == "mlp" and symmetric and (not full or k == 1)
    if implementation == "layerwise":
        if not layerwise_ok:
            why = ("the layer-wise formula needs one of ntk's own MLPs" if model.kind != "mlp"
                   else "the layer-wise formula computes K(x, x) summed over outputs only")
            raise EngineError(why + "; use --implementation contraction or products")
        return "layerwise", "chosen"
    fl = costs.flops
    if implementation != "auto":
        return implementation, "chosen"
    if layerwise_ok:
        return "layerwise", (f"one of ntk's own MLPs: layer-wise {fl['layerwise']:.2g} flops against "
                             f"{min(fl['contraction'], fl['products']):.2g} flop-equivalents for "
                             "the generic ones")
    act = costs.activation_bytes
    fits = [i for i in ("contraction", "products")
            if memory_need(i, model, n1, n2, k, full, 1, act, item) <= available]
    if not fits:
        return "contraction", "neither generic implementation fits in memory"
    best = min(fits, key=lambda i: fl[i])
    other = "products" if best == "contraction" else "contraction"
    why = (f"estimated cost of {best} {fl[best]:.2g} flop-equivalents against {other} "
           f"{fl[other]:.2g} (forward pass {costs.forward_flops:.3g} flop per sample, "
           f"{costs.parameters} parameters)")
    if other not in fits:
        why += f"; {other} would not fit in memory"
    return best, why


def empirical_ntk(model, x1, x2=None, *, implementation: str = "auto", outputs: str = "trace",
                  block: int | None = None, dtype="float64", check: bool = True,
                  progress=None) -> NTKResult:
    """The exact empirical NTK K(x1, x2) (x2 None, or the same samples as x1: K(x1, x1),
    symmetric, its upper blocks formed and mirrored) of any model form that `as_model` accepts.
    outputs="trace" sums over the k outputs (N1 × N2); "full" keeps them (N1·k × N2·k, index
    sample·k + output). Memory is checked before anything is allocated; progress(done, total) is
    called after each block (a cancel raised there stops between blocks)."""
    if outputs not in OUTPUTS:
        raise EngineError(f"unknown outputs {outputs!r}; choose one of: {', '.join(OUTPUTS)}")
    if block is not None and block < 1:
        raise EngineError(f"block must be positive, got {block}")
    dtype = jnp.dtype(dtype)
    item = dtype.itemsize
    model = as_model(model).astype(dtype)
    symmetric = x2 is None or x2 is x1
    x1 = _check_data(x1, "x1")
    x2 = x1 if symmetric else _check_data(x2, "x2")
    symmetric = symmetric or (x2.shape == x1.shape and np.array_equal(x1, x2))
    if x2.shape[1:] != x1.shape[1:]:
        raise EngineError(f"x1 and x2 must hold samples of one shape, got {x1.shape[1:]} and "
                          f"{x2.shape[1:]}")
    x1 = jnp.asarray(x1, dtype)
    x2 = x1 if symmetric else jnp.asarray(x2, dtype)
    k = check_per_sample(model, x1) if check else int(model.apply(x1[:1]).shape[1])
    n1, n2 = x1.shape[0], x2.shape[0]
    full = outputs == "full" and k > 1
    flops, act = forward_profile(model, x1.shape[1:], dtype)
    costs = estimate_costs(model, n1, n2, k, symmetric, full, flops, act, item, block)
    available = backend.available_bytes()
    impl, why = choose_implementation(model, n1, n2, k, symmetric=symmetric, full=full, costs=costs,
                                      item=item, available=available, implementation=implementation)
    what = f"the empirical NTK of {n1} × {n2} samples ({impl}, {model.parameter_count} parameters)"

    if impl == "layerwise":
        plan = ntk.choose_plan(model.spec, n1, dtype)  # refuses before allocating, with a chunk hint
        need = ntk.memory_estimate(model.spec, plan, dtype)
        start = time.perf_counter()
        K = np.asarray(ntk.layerwise_ntk(model.spec, model.params, x1, progress=progress))
        total = time.perf_counter() - start
        return NTKResult(K, impl, why, outputs, (n1, n2), k, dtype.name, None, need, costs, 0.0, total)

    b = min(block or _default_block(impl, model, n1, n2, k, full, act, item), max(n1, n2))
    sizes = lambda blk: memory_need(impl, model, n1, n2, k, full, blk, act, item)  # noqa: E731
    _refuse_unless_fits(what + f" with block {b}", sizes(b), sizes(b), available, b, sizes)

    start = time.perf_counter()
    run, xla_bytes = _compiled(model, impl, x1, None if symmetric else x2, b, full)
    need = max(sizes(b), xla_bytes + _kernel_bytes(n1, n2, k, full, item))
    _refuse_unless_fits(what + f" with block {b}", need, sizes(b), available, b, sizes)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    K = run(progress)
    return NTKResult(K, impl, why, outputs, (n1, n2), k, dtype.name, b, need, costs, compile_s,
                     time.perf_counter() - start)


def _refuse_unless_fits(what, need, estimated, available, b, sizes):
    """Refuse before anything runs, naming a smaller block that fits: the size estimate of each
    block size, scaled by how far XLA's count of the compiled programs exceeded it."""
    if need <= available:
        return
    ratio = max(1.0, need / max(estimated, 1))
    fit = b // 2
    while fit >= 1 and sizes(fit) * ratio > available:
        fit //= 2
    hint = (f"; block {fit} would fit" if fit >= 1 else
            "; no block size fits: use fewer samples, float32 or the matrix-free spectrum")
    raise InsufficientMemory(what, need, available, hint)


def dense_memory_need(samples: int, k: int = 1, outputs: str = "trace", dtype="float64") -> int:
    """Bytes the dense kernel and its eigenvalues need at the least (the kernel, its symmetrised
    copy and the float64 copy an eigensolver works on), whatever the implementation: a front end
    compares it with engine.backend.available_bytes() to go matrix-free (engine.matfree) instead."""
    n = samples * (k if outputs == "full" else 1)
    return _kernel_bytes(n, n, 1, False, jnp.dtype(dtype).itemsize) + n * n * 8


def _kernel_bytes(n1, n2, k, full, item) -> int:
    """The kernel on the host and the symmetrised copy made from it."""
    return int(2 * n1 * n2 * (k * k if full else 1) * item)


def _pad_blocks(x, b):
    """x split into blocks of b samples, the last padded with copies of x[0] (sliced off later)."""
    n = x.shape[0]
    nb = math.ceil(n / b)
    pad = nb * b - n
    if pad:
        x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))])
    return [x[i * b:(i + 1) * b] for i in range(nb)], n


def _xla_bytes(compiled) -> int:
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # not every backend reports it; the size-based estimate stands
        return 0


def _compiled(model: Model, impl: str, x1, x2, b: int, full: bool):
    """(run() → the kernel as a numpy array, XLA's bytes for the largest block program).
    Every block has b samples (the last one padded), so each program compiles once."""
    symmetric = x2 is None
    p, s = model.params, model.state
    blocks1, n1 = _pad_blocks(x1, b)
    blocks2, n2 = (blocks1, n1) if symmetric else _pad_blocks(x2, b)
    dtype = x1.dtype
    key = (blocks1[0].shape, dtype.name)
    jac = model.program(("jacobian", key), lambda: jax.jit(_jacobian_program(model)).lower(
        p, s, blocks1[0]).compile())
    J = jax.eval_shape(_jacobian_program(model), p, s, blocks1[0])
    k = jax.tree.leaves(J)[0].shape[1]
    held = sum(math.prod(j.shape) * j.dtype.itemsize for j in jax.tree.leaves(J))
    if impl == "contraction":
        contract = model.program(("contract", key, full), lambda: jax.jit(
            lambda a, c: _contract(a, c, full)).lower(J, J).compile())
        xla = max(_xla_bytes(jac) + held, _xla_bytes(contract))  # a row block is held meanwhile
    else:
        push = model.program(("push", key, x1.shape, full), lambda: jax.jit(
            lambda p, s, x, J: _push(model, p, s, x, J, full)).lower(p, s, x1, J).compile())
        xla = max(_xla_bytes(jac), _xla_bytes(push))

    def run(progress=None):
        N1, N2 = len(blocks1) * b, len(blocks2) * b
        K = np.empty((N1, k, N2, k) if full else (N1, N2), np.dtype(dtype.name))

        def put(i, j, blk):
            if full:
                K[i * b:(i + 1) * b, :, j * b:(j + 1) * b, :] = blk
            else:
                K[i * b:(i + 1) * b, j * b:(j + 1) * b] = blk

        if impl == "contraction":
            t1 = len(blocks1)
            pairs = tiles.upper(t1) if symmetric else [(i, j) for i in range(t1)
                                                        for j in range(len(blocks2))]
            tick = tiles.Ticker(len(pairs), progress)
            for i, xr in enumerate(blocks1):
                Jr = jac(p, s, xr)
                for j, xc in enumerate(blocks2):
                    if symmetric and j < i:
                        continue
                    blk = np.asarray(contract(Jr, Jr if symmetric and j == i else jac(p, s, xc)))
                    put(i, j, blk)
                    if symmetric and j > i:
                        put(j, i, np.transpose(blk, (2, 3, 0, 1)) if full else blk.T)
                    tick.finished()
            K = K[:n1, :, :n2] if full else K[:n1, :n2]
        else:  # the Jacobian rows of a column block pushed forward through all of x1
            K = K[:n1] if full else K[:n1]
            tick = tiles.Ticker(len(blocks2), progress)
            for j, xc in enumerate(blocks2):
                blk = np.asarray(push(p, s, x1, jac(p, s, xc)))
                tick.finished()
                if full:
                    K[:, :, j * b:(j + 1) * b, :] = blk
                else:
                    K[:, j * b:(j + 1) * b] = blk
            K = K[..., :n2, :] if full else K[:, :n2]
        if full:
            K = np.ascontiguousarray(K).reshape(n1 * k, n2 * k)
        if symmetric:  # exact up to round-off: both halves come from one computation
            K = K + K.T
            K *= 0.5
        return K

    return run, xla
