"""The empirical NTK of any model (engine.models): the three implementations against each other
and against a dense Jacobian J Jᵀ, in all four model forms and four architectures; full outputs,
cross-kernels, the cost model, refusals of models that mix samples, and memory refusals."""

from __future__ import annotations

import numpy as np
import pytest

import model_zoo as zoo
from engine import data, mlp, models
from engine.errors import EngineError, InsufficientMemory

import jax  # noqa: E402  (engine configured float64 on import)
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

REL = 1e-10  # the bound, float64


def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def dense_jacobian_kernel(model: models.Model, x1, x2=None, full=False):
    """The reference: the whole Jacobian by forward mode over the flattened parameters (one
    compiled program, not one per primitive as op by op)."""
    flat, unravel = ravel_pytree(model.params)
    jacobian = jax.jit(jax.jacfwd(lambda v, x: model.apply(x, unravel(v))))
    jac = lambda x: np.asarray(jacobian(flat, jnp.asarray(x)))  # noqa: E731
    J1 = jac(x1)
    J2 = J1 if x2 is None else jac(x2)
    if full:
        n1, k, _ = J1.shape
        return np.einsum("akp,blp->akbl", J1, J2).reshape(n1 * k, -1)
    return np.einsum("akp,bkp->ab", J1, J2)


# Every architecture as a function, and each framework's form on two architectures, so that every
# form meets a convolution or LayerNorm and every architecture meets two forms (each case is a few
# seconds of compiling; the full 4 × 4 grid adds nothing the forms' conversion could get wrong).
FORM_CASES = [(arch, "function") for arch in zoo.ARCHS] + [
    ("mlp", "nnx"), ("cnn", "nnx"), ("layernorm", "equinox"), ("fourier", "equinox"),
    ("cnn", "linen"), ("layernorm", "linen")]


@pytest.mark.parametrize("arch, form", FORM_CASES)
def test_contraction_and_products_equal_the_dense_jacobian_in_every_form(arch, form):
    model = models.as_model(zoo.model(arch, form))
    assert model.kind == form
    x = zoo.inputs(arch, 5)
    ref = dense_jacobian_kernel(model, x)
    a = models.empirical_ntk(model, x, implementation="contraction", block=2)
    b = models.empirical_ntk(model, x, implementation="products", block=2)
    assert a.matrix.shape == (5, 5) and a.implementation == "contraction"
    assert b.implementation == "products"
    assert _rel(a.matrix, ref) < REL and _rel(b.matrix, ref) < REL


@pytest.mark.parametrize("form", ["function", "equinox"])
def test_full_outputs_and_cross_kernels_are_blocks_of_one_kernel(form):
    """K(x1, x2) with all outputs is the off-diagonal block of K on [x1; x2], and summing its
    k × k blocks' diagonals gives the trace kernel."""
    model = models.as_model(zoo.model("cnn", form))
    x1, x2 = zoo.inputs("cnn", 4, 1), zoo.inputs("cnn", 3, 2)
    both = np.concatenate([x1, x2])
    K_all = dense_jacobian_kernel(model, both, full=True)  # (7·2, 7·2)
    for impl in ("contraction", "products"):
        full = models.empirical_ntk(model, x1, x2, implementation=impl, outputs="full", block=2)
        assert full.matrix.shape == (8, 6)
        assert _rel(full.matrix, K_all[:8, 8:]) < REL
        trace = models.empirical_ntk(model, x1, x2, implementation=impl, block=3).matrix
        assert _rel(trace, full.matrix.reshape(4, 2, 3, 2).trace(axis1=1, axis2=3)) < REL


def test_layerwise_path_for_ntks_own_mlp_agrees_and_is_chosen():
    spec = mlp.MLPSpec((3, 9, 7, 2), "cos", 1.3, "ntk", 1.2, 0.3)
    params = mlp.init(spec, 4)
    x = data.sphere_points(6, 3, 5)
    auto = models.empirical_ntk((spec, params), x)
    assert auto.implementation == "layerwise" and "own MLP" in auto.reason
    for impl in ("contraction", "products"):
        other = models.empirical_ntk((spec, params), x, implementation=impl, block=4)
        assert _rel(other.matrix, auto.matrix) < REL
    # A cross-kernel is not the layer-wise formula's: auto falls back, a request is refused.
    x2 = data.sphere_points(2, 3, 6)
    assert models.empirical_ntk((spec, params), x, x2).implementation in ("contraction", "products")
    with pytest.raises(EngineError, match="K\\(x, x\\)"):
        models.empirical_ntk((spec, params), x, x2, implementation="layerwise")
    with pytest.raises(EngineError, match="ntk's own MLPs"):
        models.empirical_ntk(zoo.model("mlp", "function"), x, implementation="layerwise")


def test_cost_model_prefers_contraction_for_a_cnn_and_products_for_a_lookup_table():
    """Contraction costs ≈ N²·P, products ≈ N²·[FP]: a convolution reuses its few weights at every
    pixel ([FP] ≫ P), a lookup table touches one entry of many (P ≫ [FP])."""
    cnn = models.empirical_ntk(zoo.model("cnn", "function"), zoo.inputs("cnn", 24))
    assert cnn.implementation == "contraction"
    assert cnn.costs.flops["contraction"] < cnn.costs.flops["products"]
    assert cnn.costs.forward_flops > cnn.costs.parameters  # XLA's count of the forward pass

    table = {"t": jnp.linspace(0.5, 1.5, 20000)}

    def lookup(p, x):  # f(x) = t[i(x)]² with i(x) from the first coordinate
        i = jnp.clip((x[:, 0] * 100).astype(jnp.int32), 0, 19999)
        return p["t"][i] ** 2

    x = np.array([[0.0], [0.011], [0.011], [0.5]])
    r = models.empirical_ntk((lookup, table), x)
    assert r.implementation == "products"
    # closed form: K_ij = 4 t_i t_j [i = j] over table entries
    t = np.asarray(table["t"])[[0, 1, 1, 50]]
    same = np.array([[a == b for b in (0, 1, 1, 50)] for a in (0, 1, 1, 50)])
    assert _rel(r.matrix, 4 * np.outer(t, t) * same) < REL


def test_the_forms_normalise_to_one_model():
    apply, params = zoo.model("mlp", "function")
    assert models.as_model((apply, params)).kind == "function"
    assert models.as_model(apply, params).kind == "function"
    module, variables = zoo.model("fourier", "linen")
    m = models.as_model((module, variables))
    assert m.kind == "linen" and "constants" in m.state  # only "params" is differentiated
    assert m.parameter_count == 8 * 8 + 8 + 8 + 1
    nnx_fourier = models.as_model(zoo.model("fourier", "nnx"))
    assert nnx_fourier.parameter_count == 8 * 8 + 8 + 8 + 1  # the fixed frequencies are state
    assert models.as_model(nnx_fourier) is nnx_fourier


def test_model_forms_that_cannot_work_are_one_line_errors():
    apply, params = zoo.model("mlp", "function")
    module, _ = zoo.model("mlp", "linen")
    cases = [((apply,), "needs its parameters"), ((module,), "Linen module needs its variables"),
             ((42,), "not a model"), (((apply, params, 1),), "must be \\(apply, params\\)")]
    for args, message in cases:
        with pytest.raises(EngineError, match=message) as info:
            models.as_model(*args)
        assert "\n" not in str(info.value)


def test_models_whose_outputs_mix_samples_are_refused():
    w = {"w": jnp.ones((3,))}
    x = zoo.inputs("mlp", 5)
    centred = lambda p, x: (x - x.mean(0)) @ p["w"]  # noqa: E731  batch statistics
    pooled = lambda p, x: jnp.sum(x @ p["w"]) * jnp.ones(x.shape[0])  # noqa: E731
    whole = lambda p, x: jnp.sum(x @ p["w"])  # noqa: E731  one output for the batch
    for f, message in ((centred, "mix samples"), (pooled, "mix samples"), (whole, "first axis")):
        with pytest.raises(EngineError, match=message):
            models.empirical_ntk((f, w), x)
    assert models.check_per_sample(models.as_model((lambda p, x: x @ p["w"], w)), x) == 1


def test_memory_is_refused_before_allocation_with_a_block_that_fits(monkeypatch):
    """Under a budget that the default block exceeds, the refusal names a block, and that block
    runs under the same budget."""
    apply, params = zoo.model("mlp", "function")
    wide = [{"W": jnp.ones((3, 300)) / 3, "b": jnp.zeros(300)}, params[-2], params[-1]]
    wide[1] = {"W": jnp.ones((300, 5)) / 300, "b": jnp.zeros(5)}
    model = models.as_model((apply, wide))
    x = zoo.inputs("mlp", 64)
    act = models.forward_profile(model, (3,), jnp.float64)[1]
    budget = models.memory_need("contraction", model, 64, 64, 2, False, 8, act, 8) * 1.5
    monkeypatch.setenv("NTK_MEMORY_BUDGET", str(int(budget)))
    with pytest.raises(InsufficientMemory, match=r"block (\d+) would fit") as info:
        models.empirical_ntk(model, x, implementation="contraction", block=64)
    hinted = int(str(info.value).rsplit("block ", 1)[1].split()[0])
    assert 1 <= hinted < 64
    r = models.empirical_ntk(model, x, implementation="contraction", block=hinted)
    assert r.memory_estimate <= budget and r.block == hinted


def test_float32_kernels_agree_to_their_precision():
    model = zoo.model("layernorm", "nnx")
    x = zoo.inputs("layernorm", 6)
    k32 = models.empirical_ntk(model, x, dtype="float32").matrix
    k64 = models.empirical_ntk(model, x).matrix
    assert k32.dtype == np.float32 and _rel(k32, k64) < 1e-5
