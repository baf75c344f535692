"""Regularisers as shrinkage masks (docs/maths.md#shrinkage-masks; seed 003 §4 and Appendix D)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.activations import get
from engine.errors import EngineError
from engine.shallow import grid, jacobian, spectrum, svd
from engine.shrinkage import (
    TAU_DEFAULT,
    flow_mask,
    gd_mask,
    gradient_descent,
    grey_zone,
    iterations_for_k,
    masked_solution,
    pca_mask,
    ridge_mask,
)

N = 64
SCALE = 32.0


@pytest.fixture(scope="module")
def problems():
    """A, its SVD and a fixed random target y for tanh and relu at N = M = 64 (shared: compiling
    the SVD and the GD loop dominates these tests)."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal(N)
    out = {}
    for name in ("tanh", "relu"):
        a = jacobian(get(name), grid(N), grid(N), SCALE)
        u, sigma, vt, _ = svd(a)
        out[name] = (a, u, sigma, vt, y)
    return out


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.mark.parametrize("name", ["tanh", "relu"])
@pytest.mark.parametrize("eta_rel", [1.0, 1.5])
@pytest.mark.parametrize("steps", [1, 10, 200])
def test_gradient_descent_is_the_gd_mask(problems, name, eta_rel, steps):
    """T steps of w ← w − ηAᵀ(Aw − y) from 0 equal V diag((1 − (1 − ησ²)^T)/σ) Uᵀy: exact."""
    a, u, sigma, vt, y = problems[name]
    eta = eta_rel / float(sigma[0]) ** 2
    w_gd = gradient_descent(a, y, eta, steps)
    w_mask = masked_solution(u, sigma, vt, y, gd_mask(sigma, eta, steps))
    assert _rel(w_gd, w_mask) < 1e-10


def test_ridge_mask_is_the_ridge_solution(problems):
    """σ²/(σ² + λ) on the pseudo-inverse is (AᵀA + λI)⁻¹Aᵀy, solved directly."""
    a, u, sigma, vt, y = problems["relu"]
    a = np.asarray(a)
    lam = 1e-3 * float(sigma[0]) ** 2
    direct = np.linalg.solve(a.T @ a + lam * np.eye(N), a.T @ y)
    assert _rel(masked_solution(u, sigma, vt, y, ridge_mask(sigma, lam)), direct) < 1e-10
    # and the mask is ½ exactly where σ² = λ
    assert float(ridge_mask(np.sqrt(lam), lam)) == pytest.approx(0.5, abs=1e-15)


def test_pca_mask_is_least_squares_on_the_leading_components(problems):
    """Keeping k components is the least-squares fit restricted to span(v₁..v_k)."""
    a, u, sigma, vt, y = problems["tanh"]
    k = 12
    vk = np.asarray(vt)[:k].T
    coef, *_ = np.linalg.lstsq(np.asarray(a) @ vk, y, rcond=None)
    w = masked_solution(u, sigma, vt, y, pca_mask(sigma, k=k))
    assert _rel(w, vk @ coef) < 1e-10


def test_pca_threshold_and_count_agree(problems):
    sigma = problems["tanh"][2]
    tau = float(sigma[9])  # σ sorted descending: exactly the first 10 stand at or above σ₁₀
    np.testing.assert_array_equal(pca_mask(sigma, tau=tau), pca_mask(sigma, k=10))
    assert set(np.unique(np.asarray(pca_mask(sigma, k=10)))) == {0.0, 1.0}
    with pytest.raises(EngineError):
        pca_mask(sigma)
    with pytest.raises(EngineError):
        pca_mask(sigma, tau=1.0, k=3)


@pytest.mark.parametrize("eta", [1e-2, 1e-3, 1e-4])
def test_gradient_flow_is_the_small_step_limit(eta):
    """At fixed time ηT, with x = ησ² and a = xT: (1 − x)^T ≤ e^{−a}, the gap is at most
    e^{−a}·T x²/(2(1 − x)), and T·max gap → max_a a²e^{−a}/2 = 2/e² as η → 0."""
    sigma = np.linspace(0.0, 1.0, 4001)
    steps = round(50.0 / eta)
    x = eta * sigma**2
    gap = np.asarray(gd_mask(sigma, eta, steps)) - np.asarray(flow_mask(sigma, eta, steps))
    assert gap.min() >= -1e-15
    assert np.all(gap <= np.exp(-x * steps) * steps * x**2 / (2 * (1 - x)) + 1e-15)
    assert gap.max() * steps == pytest.approx(2 / math.e**2, rel=0.05)


@pytest.fixture(scope="module")
def relu128():
    return spectrum(get("relu"), 128, 128, SCALE)


def test_iterations_for_k_puts_the_mask_at_tau(relu128):
    sigma = relu128.singular_values
    k = np.arange(2, 100)  # σ₁ reaches any τ at once (T = 0); σ₁₂₈ = 0 for relu on aligned grids
    eta = 1.0 / sigma[0] ** 2
    t = np.asarray(iterations_for_k(sigma, k))
    np.testing.assert_allclose(gd_mask(sigma[k - 1], eta, t), TAU_DEFAULT, rtol=0, atol=1e-9)
    # for any other τ as well
    t = np.asarray(iterations_for_k(sigma, k, tau=0.99))
    np.testing.assert_allclose(gd_mask(sigma[k - 1], eta, t), 0.99, rtol=0, atol=1e-9)


def test_iterations_for_k_above_the_efficient_step(relu128):
    """For 1 < ησ_k² < 2 the mask oscillates about 1 and its envelope 1 − |1 − ησ_k²|^T hits τ."""
    sigma = relu128.singular_values
    eta = 1.5 / sigma[0] ** 2
    k = np.arange(1, 50)
    t = np.asarray(iterations_for_k(sigma, k, eta))
    envelope = 1 - np.abs(1 - eta * sigma[k - 1] ** 2) ** t
    np.testing.assert_allclose(envelope, TAU_DEFAULT, rtol=0, atol=1e-9)
    assert (eta * sigma[0] ** 2) > 1  # the case the envelope formula exists for


def test_iterations_grow_like_inverse_square_of_the_spectrum(relu128):
    """η = 1/σ₁², τ = 1 − 1/e: T ≈ (σ₁/σ_k)² once σ_k ≪ σ₁ (Prop. 4.2)."""
    r = relu128.normalized
    k = np.flatnonzero((r < 0.05) & relu128.resolved) + 1
    assert k.size > 50
    t = np.asarray(iterations_for_k(relu128.singular_values, k))
    np.testing.assert_allclose(t, r[k - 1] ** -2.0, rtol=0.02)


def test_heaviside_iterations_match_the_exact_spectrum():
    """Heaviside on aligned grids has σ_k = 1/(2 sin((2k−1)π/(4N+2))): T_k = −1/log(1 − (σ_k/σ₁)²)."""
    n = 128
    kk = np.arange(1, n + 1)
    exact = 1.0 / (2.0 * np.sin((2 * kk - 1) * np.pi / (4 * n + 2)))
    expected = -1.0 / np.log1p(-(exact[1:] / exact[0]) ** 2)
    t = iterations_for_k(spectrum(get("heaviside"), n, n, SCALE).singular_values, kk[1:])
    np.testing.assert_allclose(t, expected, rtol=1e-9)


def test_appendix_d_iterations_order_by_spline_order(relu128):
    """Seed 003 Appendix D: to keep k = 16 components heaviside needs far fewer iterations than
    relu, and relu far fewer than relu2."""
    k = 16
    t = {name: float(iterations_for_k(spectrum(get(name), 128, 128, SCALE).singular_values, k))
         for name in ("heaviside", "relu2")}
    t["relu"] = float(iterations_for_k(relu128.singular_values, k))
    assert t["heaviside"] < t["relu"] < t["relu2"]
    assert t["relu"] / t["heaviside"] > 100
    assert t["relu2"] / t["relu"] > 100
    assert t["relu2"] / t["heaviside"] > 1e4


@pytest.mark.parametrize("eta", [1e-3, 2.5])
@pytest.mark.parametrize("steps", [1, 7, 1000])
def test_grey_zone_is_where_the_gd_mask_passes_its_levels(eta, steps):
    g = grey_zone(eta, steps)
    assert float(gd_mask(g["sigma_high"], eta, steps)) == pytest.approx(0.99, abs=1e-12)
    assert float(gd_mask(g["sigma_low"], eta, steps)) == pytest.approx(0.01, abs=1e-12)
    assert g["ratio"] == pytest.approx(g["sigma_high"] / g["sigma_low"])
    assert g["db"] == pytest.approx(20 * math.log10(g["ratio"]))


def test_grey_zone_tends_to_26_6_db():
    """For large T, ησ² ≈ −log(1 − m)/T, so the ratio tends to √(ln 100 / −ln 0.99) ≈ 21.4."""
    limit = math.sqrt(math.log(100) / -math.log(0.99))
    g = grey_zone(1e-2, 1e7)
    assert g["ratio"] == pytest.approx(limit, rel=1e-4)
    assert g["db"] == pytest.approx(20 * math.log10(limit), rel=1e-4)
    assert round(g["db"], 1) == 26.6
    # and it is approached from one side as T grows, the same for any η
    ratios = [grey_zone(eta, t)["ratio"] for eta in (1e-3, 1.0) for t in (1, 10, 100, 1e4)]
    assert ratios[:4] == pytest.approx(ratios[4:], rel=1e-12)
    assert all(abs(b - limit) < abs(a - limit) for a, b in zip(ratios[:3], ratios[1:4]))


def test_grey_zone_rejects_bad_levels():
    with pytest.raises(EngineError):
        grey_zone(1.0, 10, high=0.01, low=0.99)
