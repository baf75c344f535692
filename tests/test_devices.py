"""What differs on an accelerator, checked on whatever `jax.devices()` gives (CI: the CPU;
`scripts/gpu-check`: a GPU server): every device is used and gives the one-device kernel, memory
is read from the device, eigenvalues are float64 on the device, and float32 products are full
precision (no TF32)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine import backend, data, mlp, ntk

pytestmark = pytest.mark.gpu


def test_the_kernel_uses_every_device_and_equals_one_device():
    spec = mlp.MLPSpec((6, 64, 1), "cos", 1.0, "ntk", 1.0, 0.2)
    x = data.sphere_points(24, 6, 3)
    params = mlp.init(spec, 0)
    everywhere = ntk.layerwise_ntk(spec, params, x, chunk=32)
    one = ntk.layerwise_ntk(spec, params, x, chunk=32, devices=1)
    result = ntk.empirical_kernel(spec, x, chunk=32)
    import jax

    assert result.plan.devices == len(jax.devices())
    np.testing.assert_allclose(np.asarray(everywhere), np.asarray(one), rtol=1e-12, atol=0)


def test_memory_is_read_from_the_device(monkeypatch):
    import jax

    monkeypatch.delenv("NTK_MEMORY_BUDGET", raising=False)
    available = backend.available_bytes()
    assert available > 0
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        limit = stats["bytes_limit"]
        assert 0 < available <= limit  # the device's free memory, not the host's
    else:
        assert available <= backend.host_available_bytes()
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "3MiB")
    assert backend.available_bytes() == 3 * 2**20


def test_eigenvalues_are_float64_on_the_device():
    """A kernel with eigenvalues 1 … 1e-12 on the default device: every one is resolved to
    float64 accuracy (a float32 solver would lose everything below 1e-7 of λ_max)."""
    import jax
    import jax.numpy as jnp

    n = 64
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
    lam = np.logspace(0, -12, n)
    K = jax.device_put(jnp.asarray((q * lam) @ q.T, jnp.float64), jax.devices()[0])
    s = ntk.kernel_spectrum(K, "float64")
    np.testing.assert_allclose(np.sort(s.eigenvalues), np.sort(lam), rtol=1e-3, atol=1e-15)
    assert s.lambda_min == pytest.approx(1e-12, rel=1e-3) and not s.below_floor


def test_float32_kernels_are_full_precision_products():
    """TF32 (10-bit mantissa) would put float32 kernels ~1e-3 from float64; full float32
    products stay within ~1e-6 (the products use Precision.HIGHEST)."""
    spec = mlp.MLPSpec((8, 128, 1), "tanh", 1.0, "ntk", 1.0, 0.1)
    x = data.sphere_points(32, 8, 1)
    k64 = ntk.empirical_kernel(spec, x, dtype="float64", keep_matrix=True).matrix
    k32 = ntk.empirical_kernel(spec, x, dtype="float32", keep_matrix=True).matrix
    rel = np.abs(np.asarray(k32, np.float64) - np.asarray(k64)).max() / np.abs(k64).max()
    assert rel < 2e-5, rel


@pytest.mark.skipif(os.environ.get("NTK_GPU_CHECK") != "1", reason="run by scripts/gpu-check")
def test_the_backend_is_an_accelerator():
    """On the GPU server the check must not silently fall back to the CPU."""
    import jax

    assert jax.default_backend() == "gpu", jax.devices()
