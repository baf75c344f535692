"""Spectra of the shallow Jacobian (docs/maths.md#the-shallow-jacobian, seed 003 Fig. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import get
from engine.shallow import spectrum


@pytest.mark.parametrize("n", [1, 7, 64, 300])
def test_heaviside_closed_form(n):
    """Aligned grids make A the lower-triangular ones matrix: σ_k = 1/(2 sin((2k−1)π/(4N+2)))."""
    sigma = spectrum(get("heaviside"), n, n, 1.0).singular_values
    k = np.arange(1, n + 1)
    exact = 1.0 / (2.0 * np.sin((2 * k - 1) * np.pi / (4 * n + 2)))
    np.testing.assert_allclose(sigma, exact, rtol=1e-12, atol=0)


@pytest.mark.parametrize("s", [8, 16, 32])
def test_sinc_keeps_s_components(s):
    """sinc(s·t) has bandwidth s/2: about s normalised singular values stay above ½."""
    above = int((spectrum(get("sinc"), 128, 128, float(s)).normalized > 0.5).sum())
    assert abs(above - s) <= 1


@pytest.mark.parametrize("name", ["heaviside", "relu", "relu2"])
def test_scale_equivariant_activations_have_scale_free_spectra(name):
    a = spectrum(get(name), 64, 64, 3.0).normalized
    b = spectrum(get(name), 64, 64, 40.0).normalized
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-13)


def test_drop_off_orders_with_spline_order():
    """Seed 003 Fig. 3a: heaviside (p=1) falls slowest, then relu (p=2), then relu2 (p=3)."""
    k = 32
    tails = [spectrum(get(n), 128, 128, 32.0).normalized[k] for n in ("heaviside", "relu", "relu2")]
    assert tails[0] > tails[1] > tails[2]
    # and each step is a power law of one more order: the ratio falls by over an order of magnitude
    assert tails[0] / tails[1] > 10 and tails[1] / tails[2] > 10


def test_float32_floor_is_reported():
    s64 = spectrum(get("relu2"), 128, 128, 1.0)
    s32 = spectrum(get("relu2"), 128, 128, 1.0, dtype=np.float32)
    assert s32.floor / s32.singular_values[0] > 1e6 * s64.floor / s64.singular_values[0]
    assert (~s32.resolved).sum() >= (~s64.resolved).sum()
