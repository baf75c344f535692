"""Signal reconstruction (docs/maths.md#reconstruction, seed 003 Fig. 6): the paper's claims on the
default signal and the identities the protocol rests on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import reconstruct as rec
from engine.activations import get
from engine.shrinkage import TAU_DEFAULT
from ntktui import signals

KS = (4, 8, 16, 32, 64, 128)
MONOTONIC = ("tanh", "relu")
NON_MONOTONIC = ("sinc", "gaussian")


@pytest.fixture(scope="module")
def fig6():
    """Every curve of Fig. 6 on the default signal, computed once."""
    split = rec.split_every_other(signals.load().values)
    curves = {(s, a): rec.reconstruction_curve(get(a), split, KS, s)
              for s in rec.STRATEGIES for a in MONOTONIC + NON_MONOTONIC}
    return split, rec.dst_psnr(split, KS), curves


def rise(fig6, strategy, act):
    _, dst, curves = fig6
    return rec.relative_rise(curves[strategy, act].psnr, dst)


@pytest.mark.parametrize("act", MONOTONIC)
def test_fig6a_iterations_regularise_monotonic_activations(fig6, act):
    assert rise(fig6, "iterations", act) >= 0.5


@pytest.mark.parametrize("act", NON_MONOTONIC)
def test_fig6a_iterations_do_not_regularise_non_monotonic_activations(fig6, act):
    assert rise(fig6, "iterations", act) < 0.5


@pytest.mark.parametrize("act", NON_MONOTONIC)
def test_fig6b_scale_regularises_non_monotonic_activations(fig6, act):
    assert rise(fig6, "scale", act) >= 0.5


@pytest.mark.parametrize("act", MONOTONIC)
def test_fig6b_scale_does_not_regularise_monotonic_activations(fig6, act):
    assert rise(fig6, "scale", act) < 0.5


def test_relu_is_flat_under_the_scale_strategy(fig6):
    # relu(s·t) = s·relu(t): A scales by s, η = 1/σ₁² by 1/s², so the GD mask and the
    # prediction A·w do not depend on s at all.
    _, _, curves = fig6
    c = curves["scale", "relu"]
    np.testing.assert_allclose(c.psnr, c.psnr[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(c.predictions, np.broadcast_to(c.predictions[0], c.predictions.shape), rtol=0, atol=1e-8)


@pytest.mark.parametrize("act", MONOTONIC + NON_MONOTONIC)
def test_iteration_counts_grow_with_k(fig6, act):
    steps = fig6[2]["iterations", act].steps
    assert np.all(np.diff(steps) >= 0)
    if act in MONOTONIC:  # distinct, decaying singular values: strictly more steps per k
        assert np.all(np.diff(steps) > 0)


@pytest.mark.parametrize("act", MONOTONIC)
def test_gd_mask_at_sigma_k_reaches_tau(fig6, act):
    """T is the first whole step at which 1 − (1 − ησ_k²)^T reaches τ (Prop. 4.2)."""
    split, _, curves = fig6
    c = curves["iterations", act]
    m = split.x_train.size
    t = m * (split.x_train[:, None] - np.arange(m)[None, :] / m)
    a = np.tanh(t) if act == "tanh" else np.maximum(t, 0.0)
    sigma = np.linalg.svd(a, compute_uv=False)
    eta = 1.0 / sigma[0] ** 2
    for k, steps in zip(c.k, c.steps):
        decay = math.log1p(-eta * sigma[k - 1] ** 2)
        mask = -math.expm1(steps * decay)
        one_step = eta * sigma[k - 1] ** 2  # how far a single step can move the mask
        assert TAU_DEFAULT - 1e-9 <= mask < TAU_DEFAULT + one_step + 1e-9


def test_dst_baseline_is_exact_on_a_sum_of_its_sines():
    x = np.arange(128) / 128
    coef = np.array([0.5, -0.3, 0.2, 0.1, -0.05, 0.04])
    y = np.sin(np.pi * x[:, None] * np.arange(1, coef.size + 1)) @ coef
    split = rec.split_every_other(y)
    fewer, exact = rec.dst_psnr(split, [coef.size - 1, coef.size])
    assert exact > 100
    assert fewer < 60  # dropping the last sine (coefficient 0.04) is visible


@pytest.mark.parametrize("e", [0.5, 0.1, 1e-3])
def test_psnr_closed_form(e):
    target = np.linspace(0, 1, 16)
    assert float(rec.psnr(target + e, target)) == pytest.approx(10 * math.log10(1 / e**2))
