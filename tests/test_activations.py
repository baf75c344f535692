"""The activation registry (docs/maths.md#activations): values, derivatives against autodiff,
jit-safety at 0, and the closed-form duals each activation declares against Monte Carlo."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.activations import BASE, Activation, get, names
from engine.errors import EngineError

ALL = [*BASE, "relu2", "relu3", "relu5", "abrelu(0.3,0.8)"]
# Points away from the kinks at 0 where autodiff and the stated derivative must agree.
T = jnp.linspace(-2.7, 2.9, 41)
T = T[jnp.abs(T) > 1e-3]


@pytest.mark.parametrize("name", ALL)
def test_finite_at_zero_and_jit_safe(name):
    act = get(name)
    zero = jnp.zeros(3)
    eager = act.apply(zero, 2.0)
    jitted = jax.jit(lambda t: act.apply(t, 2.0))(zero)
    assert np.all(np.isfinite(eager)) and np.allclose(eager, jitted)
    if act.has_derivative:
        d = jax.jit(lambda t: act.derivative(t, 2.0))(zero)
        assert np.all(np.isfinite(d))


@pytest.mark.parametrize("name", [n for n in ALL if get(n).has_derivative])
def test_derivative_matches_autodiff(name):
    act = get(name)
    scale = 1.7
    auto = jax.vmap(jax.grad(lambda t: act.apply(t, scale)))(T)
    stated = act.derivative(T, scale)
    np.testing.assert_allclose(stated, auto, rtol=1e-12, atol=1e-12)


def test_sinc_derivative_near_zero_is_continuous():
    act = get("sinc")
    t = jnp.array([-1e-3, -1e-5, 0.0, 1e-5, 1e-3])
    exact = (np.pi * t * np.cos(np.pi * t) - np.sin(np.pi * t)) / (np.pi * np.where(t == 0, 1, t) ** 2)
    exact = np.where(t == 0, 0.0, exact)
    np.testing.assert_allclose(act.derivative(t), exact, atol=1e-9)
    assert float(act.apply(jnp.float64(0.0))) == 1.0


def test_closed_forms_against_math():
    t = np.linspace(-3, 3, 13)
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in t])
    np.testing.assert_allclose(get("gelu").apply(jnp.asarray(t)), t * phi, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(get("silu").apply(jnp.asarray(t)), t / (1 + np.exp(-t)), rtol=1e-13)
    np.testing.assert_allclose(get("gaussian").apply(jnp.asarray(t)), np.exp(-t * t / 2), rtol=1e-14)
    np.testing.assert_allclose(get("relu3").apply(jnp.asarray(t)), np.maximum(t, 0) ** 3)
    np.testing.assert_array_equal(get("heaviside").apply(jnp.asarray([-1.0, 0.0, 2.0])), [0, 1, 1])


def test_abrelu_half_half_is_relu_and_scale_is_inside():
    t = jnp.linspace(-2, 2, 9)
    np.testing.assert_allclose(get("abrelu(0.5,0.5)").apply(t), get("relu").apply(t), atol=1e-15)
    np.testing.assert_allclose(get("abrelu(0,1)").apply(t), get("abs").apply(t))
    np.testing.assert_allclose(get("sin").apply(t, 3.0), np.sin(3.0 * t))
    np.testing.assert_allclose(get("cos").derivative(t, 3.0), -3.0 * np.sin(3.0 * t))


def test_heaviside_refuses_a_derivative():
    with pytest.raises(EngineError, match="no NTK"):
        get("heaviside").derivative(jnp.ones(2))
    # the one refusal, worded by the caller for what it rules out
    with pytest.raises(EngineError, match="^heaviside has zero derivative almost everywhere, so "
                                          "training stalls$"):
        get("heaviside").require_derivative("training stalls")
    get("tanh").require_derivative("training stalls")  # an activation with a derivative passes


@pytest.mark.parametrize("bad", ["foo", "relu0", "abrelu(1,x)", "abrelu(inf,1)"])
def test_unknown_names_list_the_valid_ones(bad):
    with pytest.raises(EngineError) as err:
        get(bad)
    if bad == "foo":
        assert all(n in str(err.value) for n in names())


def test_one_name_is_one_jit_program():
    # Activations are equal by name and parameters, so every lookup of a name reuses one program.
    a, b = get("relu3"), get(" ReLU3 ")
    assert a == b and hash(a) == hash(b)
    assert a != get("relu2") and get("abrelu(0.5,0.5)") != get("relu")
    assert get("abrelu(0.1234567,1)") != get("abrelu(0.1234568,1)")  # same printed name, other a
    traces = []

    @partial(jax.jit, static_argnames="act")
    def f(t, act):
        traces.append(act.name)
        return act.apply(t)

    f(jnp.ones(2), act=a)
    f(jnp.ones(2), act=b)
    assert traces == ["relu3"]


# --- closed-form duals ------------------------------------------------------------------------

DUALS = [n for n in ALL if get(n).dual is not None]
# (q₁, q₂, c): unequal variances; positive, negative, strong and zero correlation.
COVARIANCES = [(1.0, 1.5, 0.6), (0.5, 2.0, -0.3), (1.2, 0.8, 0.95), (0.7, 1.1, 0.0)]


@pytest.fixture(scope="module")
def normal_pairs():
    return np.random.default_rng(0).standard_normal((2, 1_000_000))


def test_the_closed_forms_are_declared():
    # the activations whose duals the maths page gives in closed form
    assert set(DUALS) == {"heaviside", "sign", "relu", "relu2", "relu3", "relu5", "gelu",
                          "gaussian", "cos", "sin", "abs", "linear", "erf", "abrelu(0.3,0.8)"}
    assert get("heaviside").dual_derivative is None and get("sign").dual_derivative is None
    assert all(get(f"relu{k}").dual is not None for k in range(1, 12))


# (q₁, q₂, c) of unit and unequal variances, near ±1 correlation and a zero variance.
EDGES = (np.array([1.0, 0.5, 2.0, 1.3, 1.0, 0.0]), np.array([1.0, 1.5, 0.7, 1.3, 2.0, 1.0]),
         np.array([0.3, -0.519615, 1.1832, 1.3, -1.41421, 0.0]))


def test_gelu_duals_are_the_quadrature_limit():
    # gelu is entire: order-150 Gauss–Hermite is exact to round-off, so the derived closed forms
    # (docs/maths.md#gelu) must agree to 1e-12, E[φ'φ'] included (Price: ∂/∂c of E[φφ]).
    from engine import infinite as inf

    g = get("gelu")
    e, d = inf.closed_form_expectations(g, *EDGES)
    eq, dq = inf.quadrature_expectations(g, *EDGES, order=150)
    np.testing.assert_allclose(e, eq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d, dq, rtol=0, atol=1e-12)


def test_arc_cosine_recursion_of_every_order():
    # relu^k: the three-term recursion against an independent sum, Price's theorem
    # ∂/∂c E[relu(u)^k relu(v)^k] = k²·E[relu(u)^{k−1} relu(v)^{k−1}] (central differences),
    # and the diagonal E[relu(u)^{2k}] = q^k (2k − 1)!!/2.
    q1, q2, c = (jnp.asarray(t) for t in EDGES)
    for k in range(2, 8):
        e = np.asarray(get(f"relu{k}").dual(q1, q2, c))
        lower = np.asarray(get(f"relu{k - 1}").dual(q1, q2, c)) if k > 1 else None
        h = 1e-6
        up = np.asarray(get(f"relu{k}").dual(q1, q2, c + h))
        down = np.asarray(get(f"relu{k}").dual(q1, q2, c - h))
        inner = np.abs(np.asarray(EDGES[2])) < 0.9 * np.sqrt(EDGES[0] * EDGES[1])
        np.testing.assert_allclose(((up - down) / (2 * h))[inner], (k * k * lower)[inner],
                                   rtol=1e-6)
        q = np.array([0.5, 1.0, 2.0])
        diag = np.asarray(get(f"relu{k}").dual(jnp.asarray(q), jnp.asarray(q), jnp.asarray(q)))
        np.testing.assert_allclose(diag, q**k * math.prod(range(1, 2 * k, 2)) / 2, rtol=1e-13)
        assert np.all(np.isfinite(e))
        dd = np.asarray(get(f"relu{k}").dual_derivative(q1, q2, c))
        np.testing.assert_allclose(dd, k * k * lower, rtol=1e-14)


def test_sign_nngp_is_twice_heaviside_shifted():
    # sign = 2H − 1 away from 0, so E[sign u sign v] = 4E[H(u)H(v)] − 1 = 1 − 2θ/π
    q1, q2, c = (jnp.asarray(t[:5]) for t in EDGES)
    np.testing.assert_allclose(get("sign").dual(q1, q2, c),
                               4 * get("heaviside").dual(q1, q2, c) - 1, atol=1e-15)


@pytest.mark.parametrize("name", DUALS)
def test_declared_duals_match_monte_carlo(name, normal_pairs):
    # E[φ(u)φ(v)] and E[φ'(u)φ'(v)] as declared, against 10⁶ samples of (u, v) ~ N(0, [[q₁, c],
    # [c, q₂]]); tolerance 5 standard errors of each sample mean.
    act = get(name)
    z1, z2 = normal_pairs
    for q1, q2, c in COVARIANCES:
        rho = c / math.sqrt(q1 * q2)
        u = jnp.asarray(math.sqrt(q1) * z1)
        v = jnp.asarray(math.sqrt(q2) * (rho * z1 + math.sqrt(1 - rho * rho) * z2))
        checks = [(act.apply(u) * act.apply(v), act.dual)]
        if act.has_derivative:
            checks.append((act.derivative(u) * act.derivative(v), act.dual_derivative))
        for samples, dual in checks:
            s = np.asarray(samples)
            exact = float(dual(*(jnp.float64(t) for t in (q1, q2, c))))
            tol = 5 * s.std() / math.sqrt(s.size) + 1e-12
            assert abs(s.mean() - exact) < tol, (name, q1, q2, c)


def test_duals_are_declared_together():
    def dual(q1, q2, c):
        return c

    with pytest.raises(ValueError, match="dual_derivative"):  # φ' exists but E[φ'φ'] is missing
        Activation("half", jnp.tanh, jnp.tanh, "monotonic", dual=dual)
    with pytest.raises(ValueError, match="dual_derivative"):  # E[φ'φ'] without a φ'
        Activation("step", jnp.sign, None, "monotonic", dual=dual, dual_derivative=dual)


def _ulps(got, want):
    """|got − want| in units of the last place of want (of 1 where |want| < 1: an absolute ulp
    there, since the kernel sums these values with others of order one)."""
    return np.abs(got - want) / np.spacing(np.maximum(np.abs(want), 1.0))


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e5])
def test_sincos_is_libm_to_an_ulp_or_two(scale):
    """The shared-reduction sin and cos against NumPy's (the C library's, correctly rounded to
    within its own half ulp): 1 ulp up to |t| ≈ 30·4, 2 ulp up to 1e5·4, as the docstring says."""
    from engine.activations import sincos

    t = np.random.default_rng(int(scale)).standard_normal(200_000) * scale
    t = np.concatenate([t, np.arange(-40, 41) * (np.pi / 2), [0.0, -0.0, 1e-300]])
    s, c = (np.asarray(v) for v in jax.jit(sincos)(jnp.asarray(t)))
    bound = 1.0 if scale <= 30 else 2.0
    assert _ulps(s, np.sin(t)).max() <= bound and _ulps(c, np.cos(t)).max() <= bound
    assert s[-3] == s[-2] == 0.0 and s[-1] == 1e-300 and c[-3] == c[-1] == 1.0


def test_sincos_leaves_the_rest_to_xla():
    """float32, arguments beyond the reduction's exact range, inf and nan: jnp.sin and jnp.cos
    themselves, bit for bit."""
    from engine.activations import SINCOS_LIMIT, sincos

    f = jax.jit(sincos)
    for t in (np.linspace(-20, 20, 101, dtype=np.float32),
              np.array([0.5, 2 * SINCOS_LIMIT, -3.0]), np.array([1.0, np.inf]),
              np.array([np.nan, 2.0])):
        s, c = f(jnp.asarray(t))
        assert s.dtype == t.dtype
        np.testing.assert_array_equal(s, jnp.sin(t))
        np.testing.assert_array_equal(c, jnp.cos(t))


@pytest.mark.parametrize("name", [n for n in ALL if get(n).has_derivative])
def test_apply_and_derivative_are_the_two_apart(name):
    """What the layer-wise kernel evaluates: φ and φ' at once, equal to `apply` and `derivative`
    (to an ulp where the activation shares their work: sin and cos)."""
    act, scale = get(name), 1.7
    t = jnp.linspace(-9.0, 9.0, 2001)
    value, slope = act.apply_and_derivative(t, scale)
    ulp = 0 if act.pair is None else 1
    assert _ulps(np.asarray(value), np.asarray(act.apply(t, scale))).max() <= ulp
    assert _ulps(np.asarray(slope), np.asarray(act.derivative(t, scale))).max() <= ulp * scale
