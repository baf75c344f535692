"""Infinite-width NNGP/NTK (engine/infinite.py, docs/maths.md#infinite-width-kernels).

The wide-network check (empirical Θ → Θ^L as width grows) is in test_infinite_vs_empirical.py; the
duals each activation declares are checked at scale 1 in test_activations.py.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from engine import activations, data, infinite as inf
from engine.activations import Activation
from engine.errors import EngineError

# Pair covariances (q₁, q₂, c) used throughout: positive, negative, near-one and zero correlation.
Q1 = np.array([1.0, 0.5, 2.0, 1.3, 1.0])
Q2 = np.array([1.5, 2.0, 2.0, 0.7, 1.0])
C = np.array([0.6, -0.3, 1.9, 0.0, 1.0])

SMOOTH = ["linear", "erf", "cos", "sin", "gaussian"]
KINKED = ["relu", "abs", "abrelu(0.3,-0.8)", "relu2"]


def act(name):
    return activations.get(name)


# --- pair expectations ------------------------------------------------------------------------

@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("scale", [1.0, 1.7])
def test_smooth_closed_forms_match_quadrature(name, scale):
    # Entire integrands: Gauss–Hermite of order 160 is exact to ≤ 1e-7 here (1e-10 for s = 1).
    e, d = inf.closed_form_expectations(act(name), Q1, Q2, C, scale)
    eq, dq = inf.quadrature_expectations(act(name), Q1, Q2, C, scale, order=160)
    np.testing.assert_allclose(eq, e, rtol=0, atol=1e-7)
    np.testing.assert_allclose(dq, d, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", KINKED + ["heaviside"])
def test_kinked_closed_forms_are_the_limit_of_quadrature(name):
    # A kink (or jump) converges only like 1/order: the error must shrink with the order and be
    # below 2e-2 (E[φφ]) and 1e-1 (E[φ'φ'], a jump for relu/abs) at order 160.
    a = act(name)
    deriv = a.has_derivative
    e, d = inf.closed_form_expectations(a, Q1, Q2, C, derivative=deriv)
    errs = []
    for order in (40, 160):
        eq, dq = inf.quadrature_expectations(a, Q1, Q2, C, order=order, derivative=deriv)
        errs.append((float(np.max(np.abs(eq - e))), float(np.max(np.abs(dq - d))) if deriv else 0.0))
    assert errs[1][0] < errs[0][0] and errs[1][0] < 2e-2
    if deriv:
        assert errs[1][1] < errs[0][1] and errs[1][1] < 1e-1


@pytest.fixture(scope="module")
def normal_pairs():
    z = np.random.default_rng(0).standard_normal((2, 1_000_000))
    return z


def test_scaled_closed_forms_match_monte_carlo(normal_pairs):
    # The scale s of φ(s·t) maps (q₁, q₂, c) to s²·(q₁, q₂, c) and multiplies E[φ'φ'] by s², for
    # every activation that declares duals. 10⁶ samples of (u, v); 5 standard errors of each mean.
    z1, z2 = normal_pairs
    scale = 1.7
    declared = [n for n in (*activations.BASE, "relu2", "abrelu(0.3,-0.8)") if act(n).dual]
    for q1, q2, c in [(1.0, 1.5, 0.6), (0.5, 2.0, -0.3)]:
        rho = c / math.sqrt(q1 * q2)
        u = jnp.asarray(math.sqrt(q1) * z1)
        v = jnp.asarray(math.sqrt(q2) * (rho * z1 + math.sqrt(1 - rho * rho) * z2))
        for name in declared:
            a = act(name)
            deriv = a.has_derivative
            e, d = inf.closed_form_expectations(a, q1, q2, c, scale, derivative=deriv)
            samples = [(a.apply(u, scale) * a.apply(v, scale), e)]
            if deriv:
                samples.append((a.derivative(u, scale) * a.derivative(v, scale), d))
            for s, exact in samples:
                s = np.asarray(s)
                tol = 5 * s.std() / math.sqrt(s.size) + 1e-12
                assert abs(s.mean() - float(exact)) < tol, (name, scale, q1, q2, c)


def test_quadrature_error_estimate_shrinks_with_order():
    tanh = act("tanh")
    big = (Q1 * 8, Q2 * 8, C * 8)  # large variances: tanh's poles approach the real axis
    e32, d32 = inf.quadrature_error(tanh, *big, order=32)
    e64, d64 = inf.quadrature_error(tanh, *big, order=64)
    assert 0 < e64 < e32 and 0 < d64 < d32
    # the estimate bounds the actual error of order 32 (against order 256) within a factor 2
    ref, dref = inf.quadrature_expectations(tanh, *big, order=256)
    e, d = inf.quadrature_expectations(tanh, *big, order=32)
    assert float(jnp.max(jnp.abs(e - ref))) < 2 * e32
    assert float(jnp.max(jnp.abs(d - dref))) < 2 * d32


def test_kernels_use_the_duals_an_activation_declares(small_x):
    # infinite.py knows no activation by name: a new activation with relu's duals gets relu's
    # closed-form kernels, and the same activation without duals falls back to quadrature.
    relu = act("relu")
    mine = Activation("my-relu", relu.fn, relu.deriv, "monotonic", dual=relu.dual,
                      dual_derivative=relu.dual_derivative)
    bare = Activation("my-relu-bare", relu.fn, relu.deriv, "monotonic")
    assert inf.has_closed_form(mine) and not inf.has_closed_form(bare)
    ref = inf.kernels(small_x, relu, 3, sigma_w2=2.0)
    np.testing.assert_array_equal(inf.kernels(small_x, mine, 3, sigma_w2=2.0).ntk, ref.ntk)
    quad = inf.kernels(small_x, bare, 3, sigma_w2=2.0, order=96)
    assert len(quad.errors) == 2
    np.testing.assert_allclose(quad.ntk, ref.ntk, rtol=0, atol=1e-2 * float(np.max(ref.ntk)))


def test_pair_expectations_dispatch_and_refusals():
    e, _ = inf.pair_expectations(act("relu"), 1.0, 1.0, 0.5)
    eq, _ = inf.pair_expectations(act("relu"), 1.0, 1.0, 0.5, method="quadrature", order=40)
    assert abs(float(e) - float(eq)) < 1e-2
    assert inf.has_closed_form(act("abs")) and not inf.has_closed_form(act("tanh"))
    with pytest.raises(EngineError, match="no closed form"):
        inf.pair_expectations(act("tanh"), 1.0, 1.0, 0.5, method="closed")
    with pytest.raises(EngineError, match="unknown method"):
        inf.pair_expectations(act("relu"), 1.0, 1.0, 0.5, method="exact")
    with pytest.raises(EngineError, match="order"):
        inf.quadrature_expectations(act("tanh"), 1.0, 1.0, 0.5, order=1)


# --- whole-data-set kernels -------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_x():
    return data.sphere_points(12, 6, seed=4)


def test_matrix_quadrature_matches_closed_form_and_bounds_its_error(small_x):
    # erf at s = 1.3: the whole-matrix quadrature converges to the closed form, and its reported
    # bound (probes followed through the layers at n, 2n, 4n) is above the actual error, by at
    # most the estimate's factor 2 and its 2d₂ (here < 4×).
    opts = dict(sigma_w2=1.5, sigma_b2=0.1, scale=1.3)
    closed = inf.kernels(small_x, act("erf"), 4, **opts)
    assert closed.errors == ()
    for order in (16,):
        quad = inf.kernels(small_x, act("erf"), 4, method="quadrature", order=order, **opts)
        assert [(e.depth, e.check_order) for e in quad.errors] == [(2, 4 * order), (3, 4 * order),
                                                                   (4, 4 * order)]
        assert all(e.resolved for e in quad.errors)
        assert np.array_equal(np.asarray(quad.ntk), np.asarray(quad.ntk).T)
        err = float(np.max(np.abs(quad.ntk - closed.ntk)))
        bound = quad.errors[-1].ntk_abs
        assert 1e-12 < err <= bound < 4 * err
        nngp_err = float(np.max(np.abs(quad.nngp - closed.nngp)))
        assert nngp_err <= quad.errors[-1].sigma_abs < 4 * nngp_err


@pytest.mark.parametrize("name, sw, sb, scale", [
    ("tanh", 1.3, 0.2, 1.0),  # issue 16: the old estimate (orders 64/128, first order) understated
    ("silu", 1.3, 0.2, 2.0),
    ("sinc", 1.3, 0.0, 2.0),
])
def test_quadrature_bound_holds_against_a_high_order_reference(small_x, name, sw, sb, scale):
    # Every layer's reported bound of Θ^l and Σ^l at order 16 is at least the true difference
    # from order 256 (a scipy grid: numpy's hermgauss fails above ~360), or unresolved.
    opts = dict(sigma_w2=sw * sw, sigma_b2=sb * sb, scale=scale)
    got = list(inf.layers(small_x, act(name), 4, order=16, **opts))
    ref = list(inf.layers(small_x, act(name), 4, order=256, check_error=False, **opts))
    for g, r in zip(got[1:], ref[1:]):
        e = g.error
        assert e.check_order == 64
        for bound, a, b in ((e.ntk_abs, g.ntk, r.ntk), (e.sigma_abs, g.nngp, r.nngp)):
            true = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            assert (bound is None and not e.resolved) or true <= bound, (g.depth, true, bound)


def test_tolerance_raises_the_order_until_the_bound_meets_it(small_x, monkeypatch):
    opts = dict(sigma_w2=1.69, sigma_b2=0.04)
    fixed = inf.kernels(small_x, act("tanh"), 3, order=8, **opts)
    assert fixed.errors[-1].tolerance is None and fixed.errors[-1].ntk_rel > 1e-6
    tuned = inf.kernels(small_x, act("tanh"), 3, order=8, tolerance=1e-6, **opts)
    last = tuned.errors[-1]
    assert last.order > 8 and last.tolerance_met and last.ntk_rel <= 1e-6
    ref = inf.kernels(small_x, act("tanh"), 3, order=last.order, check_error=False, **opts)
    np.testing.assert_array_equal(tuned.ntk, ref.ntk)  # the kernels are those of that order
    # a tolerance out of reach: the last bound is reported, marked as not met
    monkeypatch.setattr(inf, "MAX_ADAPTIVE_ORDER", 32)  # the cap, lowered to keep the test fast
    hard = inf.kernels(small_x, act("tanh"), 2, order=8, tolerance=1e-300, **opts)
    assert hard.errors[-1].order == 32
    assert hard.errors[-1].tolerance_met is False
    with pytest.raises(EngineError, match="tolerance"):
        inf.kernels(small_x, act("tanh"), 2, tolerance=0.0)


def test_unconverged_quadrature_is_unresolved():
    # sinc at s = 2 and σ_w = 2, depth 3, order 8: far from converged, and said so (no number)
    x = data.sphere_points(8, 4, seed=1)
    k = inf.kernels(x, act("sinc"), 3, order=8, sigma_w2=4.0, scale=2.0)
    assert not k.errors[-1].resolved and k.errors[-1].ntk_abs is None


def test_high_order_grid_is_the_rule_of_that_order():
    # scipy's nodes above order 150 integrate z^{2k} exactly like numpy's below
    for order in (150, 151, 400):
        z, w, *_ = inf._grid(order)
        assert abs(w.sum() - 1) < 1e-12
        for k, moment in ((1, 1.0), (2, 3.0), (4, 105.0)):
            assert abs(float(np.sum(w * z ** (2 * k))) - moment) < 1e-10 * moment


def test_layers_by_depth_agree(small_x):
    relu = act("relu")
    stack = inf.ntk_by_depth(small_x, relu, 5, sigma_w2=2.0)
    last = inf.kernels(small_x, relu, 5, sigma_w2=2.0)
    assert stack.shape == (5, 12, 12)
    np.testing.assert_array_equal(stack[-1], last.ntk)
    np.testing.assert_allclose(stack[0], inf.input_covariance(small_x, 2.0), rtol=1e-15)


def test_heaviside_has_an_nngp_but_no_ntk(small_x):
    h = act("heaviside")
    with pytest.raises(EngineError, match="heaviside.*NTK does not exist.*NNGP"):
        inf.kernels(small_x, h, 3)
    with pytest.raises(EngineError, match="NTK does not exist"):
        inf.pair_expectations(h, 1.0, 1.0, 0.3)
    sigma = np.asarray(inf.nngp(small_x, h, 3, sigma_w2=2.0, sigma_b2=0.5))
    np.testing.assert_allclose(np.diag(sigma), 2.0 * 0.5 + 0.5)  # E[H(u)²] = ½


def test_refused_inputs(small_x):
    relu = act("relu")
    for kwargs, msg in [({"depth": 0}, "depth"), ({"sigma_w2": 0.0}, "σ_w²"),
                        ({"sigma_b2": -1.0}, "σ_b²"), ({"scale": math.inf}, "scale")]:
        args = {"depth": 2, **kwargs}
        with pytest.raises(EngineError, match=msg):
            inf.kernels(small_x, relu, args.pop("depth"), **args)
    with pytest.raises(EngineError, match="N × n₀"):
        inf.kernels(np.ones(3), relu, 2)
    with pytest.raises(EngineError, match="NaN"):
        inf.kernels(np.full((2, 2), np.nan), relu, 2)


# --- condition numbers, depth and activation (seeds 001, 002) ---------------------------------

@pytest.fixture(scope="module")
def sphere():
    return data.sphere_points(32, 48, seed=1)  # n₀ > N: the Gram matrix has full rank


@pytest.fixture(scope="module")
def depth_conditions(sphere):
    out = {}
    for name, sw2 in (("linear", 1.0), ("relu", 2.0), ("abs", 1.0)):
        out[name] = inf.condition_by_depth(sphere, act(name), 40, sigma_w2=sw2)
    return out


def test_linear_network_keeps_the_gram_conditioning(sphere, depth_conditions):
    gram = inf.condition(sphere @ sphere.T)
    assert gram.resolved
    for c in depth_conditions["linear"]:
        assert c.kappa == pytest.approx(gram.kappa, rel=1e-9)
    # Θ^L = L·σ_w^{2(L−1)}·Σ¹ for a linear network with σ_b = 0
    k = inf.kernels(sphere, act("linear"), 6, sigma_w2=1.3)
    np.testing.assert_allclose(k.ntk, 6 * 1.3**5 * inf.input_covariance(sphere, 1.3), rtol=1e-12)


def test_relu_conditioning_improves_with_depth(depth_conditions):
    # The first nonlinear layer does most of it (κ 293 → 18 here); on this data κ then rises
    # slightly up to depth 5 before it falls steadily toward the deep limit.
    kappas = [c.kappa for c in depth_conditions["relu"]]
    assert all(k is not None for k in kappas)
    assert all(k < kappas[0] / 10 for k in kappas[1:])
    assert all(b < a for a, b in zip(kappas[5:], kappas[6:]))
    assert kappas[-1] < min(kappas[1:10])


def test_abs_reaches_the_deep_limit_faster_than_relu(sphere, depth_conditions):
    # At the EOC both NTKs tend to ∝ ¾I + ¼·11ᵀ, whose κ is (N + 3)/3; abs (Δφ = 1) gets there
    # faster than relu (Δφ = ½), so at large depth its κ is the lower one.
    limit = (sphere.shape[0] + 3) / 3
    k_abs, k_relu = depth_conditions["abs"][-1].kappa, depth_conditions["relu"][-1].kappa
    assert limit < k_abs < k_relu
    assert inf.eoc_iterates(0.3, 1.0, 20000).ntk_rho[-1] == pytest.approx(0.25, abs=1e-3)


def test_condition_floor():
    x = data.sphere_points(20, 5, seed=2)  # rank 5 < 20
    c = inf.condition(x @ x.T)
    assert not c.resolved and c.lam_min is None and c.kappa is None
    assert c.kappa_at_least == pytest.approx(1 / (20 * np.finfo(np.float64).eps))
    assert c.floor == pytest.approx(20 * np.finfo(np.float64).eps * c.lam_max)
    c32 = inf.condition(np.eye(4, dtype=np.float32) * np.array([1, 2, 3, 4], np.float32))
    assert c32.kappa == pytest.approx(4.0) and c32.eps == np.finfo(np.float32).eps
    assert inf.condition(np.diag([1.0, 1e-20])).kappa is None
    with pytest.raises(EngineError, match="square"):
        inf.condition(np.ones((2, 3)))


def test_close_pairs_feature_angles():
    angles = np.array([0.05, 0.1, 0.2, 0.4, 0.8])
    x, pairs = data.close_pairs(5, 16, angles, seed=3)
    np.testing.assert_allclose(inf.pair_angles(x @ x.T, pairs), angles, atol=1e-12)
    for layer in inf.layers(x, act("linear"), 10):  # no nonlinearity: the input angle, always
        np.testing.assert_allclose(inf.pair_angles(layer.ntk, pairs), angles, atol=1e-9)
    relu = np.stack([inf.pair_angles(layer.ntk, pairs)
                     for layer in inf.layers(x, act("relu"), 50, sigma_w2=2.0)])
    assert np.all(np.diff(relu, axis=0) > 0)  # every pair's gradients separate with depth
    ratio = relu.max(axis=1) / relu.min(axis=1)
    assert np.all(np.diff(ratio) < 0)  # toward one common angle
    assert np.ptp(relu[-1]) < 0.8 * np.ptp(relu[0])
    cos = inf.feature_cosines(x @ x.T)
    assert np.allclose(np.diag(cos), 1.0) and cos[0, 1] == pytest.approx(math.cos(0.05))


# --- edge of chaos ----------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [(0.5, 0.5), (0.0, 1.0), (1.0, 0.0), (0.3, -0.7)])
def test_eoc_maps_are_the_closed_forms(a, b):
    phi = act(f"abrelu({a},{b})")
    sw2, delta = inf.eoc_sigma_w2(a, b), inf.delta_phi(a, b)
    q = 1.7
    rho = np.linspace(-0.95, 1.0, 9)
    e, d = inf.closed_form_expectations(phi, q, q, rho * q)
    np.testing.assert_allclose(sw2 * e[-1], q, rtol=1e-14)  # the variance map is the identity
    np.testing.assert_allclose(sw2 * np.asarray(e) / q, inf.correlation_map(rho, delta), atol=1e-14)
    np.testing.assert_allclose(sw2 * np.asarray(d), inf.derivative_map(rho, delta), atol=1e-14)


def test_eoc_constants_and_iterates():
    assert inf.delta_phi(0.5, 0.5) == 0.5 and inf.delta_phi(0, 1) == 1 and inf.delta_phi(1, 0) == 0
    assert inf.eoc_sigma_w2(0.5, 0.5) == 2.0
    assert inf.abrelu_params(act("relu"), 2.0) == (1.0, 1.0)
    with pytest.raises(EngineError, match="abrelu"):
        inf.abrelu_params(act("tanh"))
    with pytest.raises(EngineError, match="a² \\+ b² > 0"):
        inf.eoc_sigma_w2(0.0, 0.0)
    rho0 = np.array([-0.5, 0.0, 0.5, 0.9])
    for delta in (0.5, 1.0):
        it = inf.eoc_iterates(rho0, delta, 1000)
        steps = np.diff(it.rho, axis=0)
        assert np.all(steps >= 0) and np.all(steps[:100] > 0)  # increasing (until round-off at 1)
        assert np.all(it.rho[-1] > 0.999) and np.all(it.rho <= 1.0)
    lin = inf.eoc_iterates(rho0, 0.0, 10)
    np.testing.assert_allclose(lin.rho, np.broadcast_to(rho0, (10, 4)))
    np.testing.assert_allclose(lin.ntk_rho, np.broadcast_to(rho0, (10, 4)))


def test_eoc_iterates_match_the_full_kernel(small_x):
    a, b = 0.3, 0.7
    k = inf.kernels(small_x, act(f"abrelu({a},{b})"), 6, sigma_w2=inf.eoc_sigma_w2(a, b))
    rho0 = inf.feature_cosines(small_x @ small_x.T)
    it = inf.eoc_iterates(rho0, inf.delta_phi(a, b), 6)
    np.testing.assert_allclose(inf.feature_cosines(k.nngp), it.rho[-1], atol=1e-12)
    np.testing.assert_allclose(inf.feature_cosines(k.ntk), it.ntk_rho[-1], atol=1e-12)


# --- synthetic data ---------------------------------------------------------------------------

def test_one_data_check():
    x = data.check_data([[1, 2], [3, 4]], 2)
    assert x.dtype == np.float64 and x.shape == (2, 2)
    for bad, n0, msg in [(np.ones(3), None, "N × n₀"), (np.ones((0, 2)), 2, "N × 2"),
                         (np.ones((3, 2)), 3, "N × 3"), (np.full((2, 2), np.inf), None, "NaN")]:
        with pytest.raises(EngineError, match=msg):
            data.check_data(bad, n0)


def test_synthetic_data():
    x = data.sphere_points(7, 9, seed=5)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 3.0)
    np.testing.assert_array_equal(x, data.sphere_points(7, 9, seed=5))
    c = data.clustered_points(12, 9, 3, 0.05, seed=5)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 3.0)
    cos = inf.feature_cosines(c @ c.T)
    assert cos[0, 3] > 0.99 and cos[0, 1] < 0.9  # same cluster vs different clusters
    with pytest.raises(EngineError, match="\\[0, π\\]"):
        data.close_pairs(2, 4, 4.0)
