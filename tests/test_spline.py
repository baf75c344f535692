"""The spline view (docs/maths.md#the-spline-view, seed 003 Appendix A): D_p and its inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import spline
from engine.errors import EngineError

N = 48


def shift_matrix(n: int) -> np.ndarray:
    return np.eye(n, k=-1)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_difference_matrix_is_causal_convolution(p):
    """(D_p f)_i = Σ_k (−1)^k C(p,k) f_{i−k} with f_{<0} = 0, i.e. D_p = (I − S)^p."""
    d = spline.difference_matrix(p, N)
    f = np.random.default_rng(p).standard_normal(N)
    direct = np.array([sum((-1) ** k * math.comb(p, k) * f[i - k] for k in range(p + 1) if i >= k)
                       for i in range(N)])
    np.testing.assert_allclose(d @ f, direct, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(d, np.linalg.matrix_power(np.eye(N) - shift_matrix(N), p))


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_differences_annihilate_low_degree_polynomials(p):
    """Away from the boundary (i ≥ p) the p-th difference of any polynomial of degree < p is 0."""
    t = np.arange(N, dtype=np.float64)
    d = spline.difference_matrix(p, N)
    for degree in range(p):
        assert np.abs((d @ t**degree)[p:]).max() == 0
    assert np.abs((d @ t**p)[p:] - math.factorial(p)).max() < 1e-9  # and p-th degree → p!


@pytest.mark.parametrize("p", [1, 2, 3, 4, 6])
def test_inverse_is_inverse(p):
    d, inv = spline.difference_matrix(p, N), spline.difference_inverse(p, N)
    np.testing.assert_allclose(d @ inv, np.eye(N), rtol=0, atol=1e-12)
    np.testing.assert_allclose(inv @ d, np.eye(N), rtol=0, atol=1e-12)


def columns_of(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D_p⁻¹ and t = i − j for every entry (0-based i, j)."""
    inv = spline.difference_inverse(p, N)
    i = np.arange(N)
    return inv, i[:, None] - i[None, :], i


def test_p1_columns_are_shifted_heaviside():
    inv, t, _ = columns_of(1)
    np.testing.assert_allclose(inv, (t >= 0).astype(float), rtol=0, atol=1e-12)


def test_p2_columns_are_shifted_relu():
    inv, t, _ = columns_of(2)
    np.testing.assert_allclose(inv, np.maximum(t + 1, 0), rtol=0, atol=1e-12)


def test_p3_columns_are_the_binomial_quadratic():
    inv, t, _ = columns_of(3)
    np.testing.assert_allclose(inv, np.where(t >= 0, (t + 1) * (t + 2) / 2, 0), rtol=0, atol=1e-12)
    # …which is relu2(t+1)/2! plus the lower-order term (t+1)/2
    plain = np.maximum(t + 1, 0) ** 2 / 2
    np.testing.assert_allclose(inv - plain, np.where(t >= 0, (t + 1) / 2, 0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5])
def test_reference_columns_match_inverse(p):
    inv, _, i = columns_of(p)
    for j in (0, 7, N // 2, N - 1):
        expected = np.array([math.comb(k - j + p - 1, p - 1) if k >= j else 0 for k in i], float)
        np.testing.assert_allclose(inv[:, j], expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(spline.reference_column(p, N, j), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_shifted_activation_is_the_leading_term(p):
    """The plain activation agrees with C(t+p−1, p−1) to leading order: their ratio → 1 as t grows."""
    j = 3
    act = spline.shifted_activation(p, N, j)
    ref = spline.reference_column(p, N, j)
    assert np.all(act[:j] == 0) and np.all(ref[:j] == 0)
    ratio = act[j:] / ref[j:]
    assert abs(ratio[-1] - 1) < p / (N - j)  # the lower-order terms are O(1/t) relatively
    if p <= 2:
        np.testing.assert_array_equal(act, ref)


def test_deviations():
    for p in (1, 2):
        dev = spline.deviations(p, N)
        assert dev.inverse_residual == dev.closed_form == dev.activation == 0
    dev = spline.deviations(3, N)
    assert dev.inverse_residual == 0 and dev.closed_form == 0
    assert dev.activation == pytest.approx(N / 2)  # max over t ≤ N−1 of (t+1)/2
    assert dev.activation_relative == pytest.approx((N / 2) / math.comb(N + 1, 2))


def test_activation_names():
    assert [spline.activation_name(p) for p in (1, 2, 3, 4)] == ["heaviside", "relu", "relu2", "relu3"]


@pytest.mark.parametrize("order,size", [(0, 8), (-1, 8), (1, 0), (2, -3), (12, 4096)])
def test_bad_input_raises(order, size):
    with pytest.raises(EngineError):
        spline.difference_inverse(order, size)
