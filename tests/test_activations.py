"""The activation registry (SPEC §1): values, derivatives against autodiff, jit-safety at 0."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.activations import BASE, get, names
from engine.errors import EngineError

ALL = [*BASE, "relu2", "relu3", "abrelu(0.3,0.8)"]
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


@pytest.mark.parametrize("bad", ["foo", "relu0", "abrelu(1,x)", "abrelu(inf,1)"])
def test_unknown_names_list_the_valid_ones(bad):
    with pytest.raises(EngineError) as err:
        get(bad)
    if bad == "foo":
        assert all(n in str(err.value) for n in names())


def test_names_are_cached_for_jit():
    assert get("relu3") is get(" ReLU3 ")
