"""The empirical NTK (docs/maths.md#the-empirical-ntk): the layer-wise formula against autodiff,
chunking, sharding, closed forms, the round-off floor, memory refusals and seed 000's λ_min growth
claim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine import activations, data, mlp, ntk
from engine.errors import EngineError, InsufficientMemory

WITH_DERIVATIVE = [a for a in [*activations.BASE, "relu2", "abrelu(0.3,0.8)"]
                   if activations.get(a).has_derivative]
REL = 1e-10  # the bound, float64


def _rel_err(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def _both(spec: mlp.MLPSpec, samples=5, seed=0, chunk=None):
    x = data.sphere_points(samples, spec.widths[0], seed + 1)
    params = mlp.init(spec, seed)
    fast = ntk.layerwise_ntk(spec, params, x, chunk=chunk)
    ref = ntk.autodiff_ntk(lambda p, xb: mlp.apply(spec, p, xb), params, x)
    return np.asarray(fast), ref


def test_every_activation_with_a_derivative_is_covered():
    assert len(WITH_DERIVATIVE) >= 12 and "heaviside" not in WITH_DERIVATIVE


@pytest.mark.parametrize("act", WITH_DERIVATIVE)
def test_layerwise_equals_autodiff_for_every_activation(act):
    spec = mlp.MLPSpec((3, 6, 5, 1), act, 1.3, "ntk", 1.4, 0.2)
    fast, ref = _both(spec)
    assert _rel_err(fast, ref) < REL


@pytest.mark.parametrize("param", mlp.PARAMETERISATIONS)
@pytest.mark.parametrize("sigma_b", [0.0, 0.5])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_layerwise_equals_autodiff_for_every_parameterisation_and_depth(param, sigma_b, depth):
    widths = (4, 7, 5, 6)[:depth] + (1,)
    sigma_w = 0.6 if param == "unscaled" else 1.3
    spec = mlp.MLPSpec(widths, "tanh", 0.9, param, sigma_w, sigma_b)
    fast, ref = _both(spec, seed=depth)
    assert _rel_err(fast, ref) < REL


def test_several_outputs_sum_the_per_output_kernels():
    spec = mlp.MLPSpec((3, 6, 3), "sin", 1.0, "standard", 1.0, 0.3)
    fast, ref = _both(spec)
    assert _rel_err(fast, ref) < REL
    x = data.sphere_points(5, 3, 1)
    params = mlp.init(spec, 0)
    per_output = sum(ntk.autodiff_ntk(lambda p, xb, k=k: mlp.apply(spec, p, xb)[:, k], params, x)
                     for k in range(3))
    assert _rel_err(fast, per_output) < REL


@pytest.mark.parametrize("widths", [(4, 10, 7, 12, 1), (4, 10, 9, 1), (4, 11, 2)])
def test_chunked_equals_unchunked(widths):
    """Streamed layers (chunk 3 of widths 9–12, with a shifted last chunk) give the same kernel;
    (4, 10, 9, 1) has two adjacent wide layers, of which the second is stored."""
    spec = mlp.MLPSpec(widths, "cos", 1.2, "ntk", 1.1, 0.4)
    x = data.sphere_points(6, 4, 3)
    params = mlp.init(spec, 2)
    plan = ntk.choose_plan(spec, 6, np.float64, chunk=3)
    assert plan.streamed_layers, "the test must exercise the streamed path"
    whole = np.asarray(ntk.layerwise_ntk(spec, params, x))
    chunked = np.asarray(ntk.layerwise_ntk(spec, params, x, chunk=3))
    assert _rel_err(chunked, whole) < 1e-13
    ref = ntk.autodiff_ntk(lambda p, xb: mlp.apply(spec, p, xb), params, x)
    assert _rel_err(chunked, ref) < REL


def test_plan_streams_wide_layers_with_stored_neighbours():
    spec = mlp.MLPSpec((4, 10, 9, 20, 3, 1), "relu")
    plan = ntk.make_plan(spec, 5, 4, 1, np.float64)
    assert plan.streamed == (True, False, True, False, False)


@pytest.mark.parametrize("outputs", [1, 2])
def test_autodiff_blocks_equal_one_block(outputs):
    """Blocks of columns by jvp equal the whole Jacobian's contraction (a second, independent
    autodiff route: forward mode against reverse mode)."""
    spec = mlp.MLPSpec((3, 8, outputs), "gelu", 1.0, "ntk", 1.0, 0.1)
    x = data.sphere_points(7, 3, 0)
    params = mlp.init(spec, 0)
    f = lambda p, xb: mlp.apply(spec, p, xb)  # noqa: E731
    assert _rel_err(ntk.autodiff_ntk(f, params, x, block=3), ntk.autodiff_ntk(f, params, x)) < 1e-14


def test_depth_one_is_the_scaled_input_gram_matrix():
    """One weight layer: K = c₁·XXᵀ + c_b, with c₁ = σ_w²/n₀ (ntk) or 1 (standard)."""
    x = data.sphere_points(6, 5, 0)
    for param, c1, cb in (("ntk", 1.7**2 / 5, 0.3**2), ("standard", 1.0, 1.0)):
        spec = mlp.MLPSpec((5, 1), "relu", 1.0, param, 1.7, 0.3)
        K = ntk.layerwise_ntk(spec, mlp.init(spec, 0), x)
        assert _rel_err(K, c1 * x @ x.T + cb) < 1e-14


def test_one_hidden_layer_closed_form():
    """f = v·φ(Wx)/√n (ntk, σ_w = 1): K = XXᵀ/n₀ ⊙ (φ'(H) diag(v²) φ'(H)ᵀ)/n + φ(H)φ(H)ᵀ/n."""
    spec = mlp.MLPSpec((3, 9, 1), "erf", 1.0, "ntk", 1.0, 0.0)
    x = data.sphere_points(5, 3, 4)
    params = mlp.init(spec, 1)
    W, v = np.asarray(params[0]["W"]), np.asarray(params[1]["W"])[0]
    H = x @ W.T / np.sqrt(3)
    phi = np.asarray(activations.get("erf").apply(H))
    dphi = np.asarray(activations.get("erf").derivative(H))
    expected = (x @ x.T / 3) * ((dphi * v**2) @ dphi.T / 9) + phi @ phi.T / 9
    assert _rel_err(ntk.layerwise_ntk(spec, params, x), expected) < 1e-13


def test_ntk_and_standard_share_the_function_at_initialisation():
    spec_ntk = mlp.MLPSpec((4, 6, 6, 1), "tanh", 1.0, "ntk", 1.3, 0.4)
    spec_std = mlp.MLPSpec((4, 6, 6, 1), "tanh", 1.0, "standard", 1.3, 0.4)
    x = data.sphere_points(5, 4, 0)
    f_ntk = mlp.apply(spec_ntk, mlp.init(spec_ntk, 3), x)
    f_std = mlp.apply(spec_std, mlp.init(spec_std, 3), x)
    assert _rel_err(f_ntk, f_std) < 1e-14


def test_heaviside_is_refused():
    spec = mlp.MLPSpec((3, 4, 1), "heaviside")
    with pytest.raises(EngineError, match="no NTK"):
        ntk.empirical_kernel(spec, data.sphere_points(3, 3))


def test_bad_specs_are_refused():
    for kwargs, match in (({"widths": (3,)}, "at least one layer"),
                          ({"widths": (3, 0, 1)}, "positive"),
                          ({"widths": (3, 1), "param": "mup"}, "parameterisation"),
                          ({"widths": (3, 1), "sigma_b": -1.0}, "sigma_b"),
                          ({"widths": (3, 1), "activation": "swish"}, "unknown activation")):
        with pytest.raises(EngineError, match=match):
            mlp.MLPSpec(**kwargs)
    spec = mlp.MLPSpec((3, 4, 1))
    with pytest.raises(EngineError, match="N × 3"):
        ntk.empirical_kernel(spec, np.ones((4, 2)))


# --- the round-off floor --------------------------------------------------------------------

@pytest.fixture(scope="module")
def duplicated():
    """Two identical inputs make K exactly singular: λ_min is round-off, not a result."""
    spec = mlp.MLPSpec((5, 64, 1), "tanh")
    x = data.sphere_points(6, 5, 0)
    x[5] = x[0]
    return spec, x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_singular_kernel_is_reported_below_the_floor(duplicated, dtype):
    spec, x = duplicated
    s = ntk.empirical_kernel(spec, x, dtype=dtype).spectrum
    assert abs(s.eigenvalues[0]) <= s.floor
    assert s.below_floor and s.lambda_min is None and s.condition is None
    assert s.as_dict()["lambda_min"] is None


def test_regular_kernel_is_resolved_and_float32_agrees():
    spec = mlp.MLPSpec((5, 64, 1), "tanh")
    x = data.sphere_points(6, 5, 0)
    s64 = ntk.empirical_kernel(spec, x).spectrum
    s32 = ntk.empirical_kernel(spec, x, dtype="float32").spectrum
    assert not s64.below_floor and s64.condition == pytest.approx(s64.lambda_max / s64.lambda_min)
    assert s32.floor > 1e8 * s64.floor  # N·ε·λ_max: ε32/ε64 ≈ 5e8
    assert s32.lambda_min == pytest.approx(s64.lambda_min, rel=1e-4)


def test_growth_exponent_recovers_a_power_law():
    N = np.array([10, 20, 40, 80])
    assert ntk.growth_exponent(N, 3.0 * N**1.5) == pytest.approx(1.5)
    assert ntk.growth_exponent(N, [1.0, None, None, None]) is None


# --- memory ---------------------------------------------------------------------------------

def test_over_budget_is_refused_with_a_chunk_that_fits(monkeypatch):
    spec = mlp.MLPSpec((10, 4000, 1), "relu")
    whole = ntk.memory_estimate(spec, ntk.make_plan(spec, 200, 4096, 1, np.float64), np.float64)
    small = ntk.memory_estimate(spec, ntk.make_plan(spec, 200, 256, 1, np.float64), np.float64)
    assert small < whole
    monkeypatch.setenv("NTK_MEMORY_BUDGET", str((small + whole) // 2))
    with pytest.raises(InsufficientMemory, match=r"--chunk (\d+) would fit") as err:
        ntk.choose_plan(spec, 200, np.float64, chunk=4096)
    fit = int(err.value.args[0].rsplit("--chunk ", 1)[1].split()[0])
    assert ntk.choose_plan(spec, 200, np.float64, chunk=fit).streamed_layers == [1]
    assert ntk.choose_plan(spec, 200, np.float64).chunk <= fit  # the default finds one itself
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "1000")
    with pytest.raises(InsufficientMemory, match="fewer samples"):
        ntk.choose_plan(spec, 200, np.float64)


# --- devices --------------------------------------------------------------------------------

SHARDED = textwrap.dedent("""
    import json, numpy as np, jax
    from engine import data, mlp, ntk
    spec = mlp.MLPSpec((5, 37, 11, 23, 1), "cos", 1.3, "ntk", 1.2, 0.3)
    x = data.sphere_points(9, 5, 1)
    p = mlp.init(spec, 0)
    one = np.asarray(ntk.layerwise_ntk(spec, p, x, chunk=4, devices=1))
    four = np.asarray(ntk.layerwise_ntk(spec, p, x, chunk=4, devices=4))
    tiled = np.asarray(ntk.layerwise_ntk(spec, p, x, chunk=4, devices=4, tile=4))  # 4 + 4 + 1 rows
    ref = ntk.autodiff_ntk(lambda q, xb: mlp.apply(spec, q, xb), p, x)
    plan = ntk.choose_plan(spec, 9, np.float64, chunk=4)
    print(json.dumps({"devices": len(jax.devices()), "plan_devices": plan.devices,
                      "streamed": plan.streamed_layers,
                      "tiled_vs_one": float(np.abs(tiled - one).max() / np.abs(one).max()),
                      "four_vs_one": float(np.abs(four - one).max() / np.abs(one).max()),
                      "four_vs_autodiff": float(np.abs(four - ref).max() / np.abs(ref).max())}))
""")


def test_sharded_over_four_devices_equals_one_device():
    env = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")
           + " --xla_force_host_platform_device_count=4",
           "NTK_NO_COMPILE_CACHE": "1"}
    done = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True,
                          timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["devices"] == 4 and r["plan_devices"] == 4  # every device is used by default
    assert r["streamed"] == [1, 3]
    assert r["four_vs_one"] < 1e-13 and r["four_vs_autodiff"] < REL
    assert r["tiled_vs_one"] < 1e-13  # upper tiles over four devices: the same kernel


# --- seed 000's claim -----------------------------------------------------------------------

def test_cos_lambda_min_grows_faster_than_relu_in_seed_000_setting():
    """n₀ = 400, n₁ = 8N, n₂ = 400, unscaled W ~ N(0, β²) with β = 1/√n₀ (the `ntk lmin`
    defaults), N = 8, 16, 32: λ_min(K₃) grows with a larger exponent for cos than for relu."""
    exponents = {}
    for act in ("cos", "relu"):
        lmins = []
        for N in (8, 16, 32):
            spec = mlp.MLPSpec((400, 8 * N, 400, 1), act, 1.0, "unscaled", 0.05, 0.0)
            s = ntk.empirical_kernel(spec, data.sphere_points(N, 400, 0)).spectrum
            assert not s.below_floor
            lmins.append(s.lambda_min)
        exponents[act] = ntk.growth_exponent([8, 16, 32], lmins)
    assert exponents["cos"] > exponents["relu"] + 0.5, exponents
    assert exponents["cos"] > 1.2 and 0.6 < exponents["relu"] < 1.1, exponents
