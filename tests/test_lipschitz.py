"""Empirical Lipschitz constant (docs/maths.md#lipschitz-and-memorisation, seed 000 Fig. 3–4): the
estimates against closed forms (linear networks, one hidden layer), the pairwise quotient against
brute force and the mean value theorem, seed 000's boundedness claim on a reduced sweep, and the
`ntk lipschitz` contract."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, with_args

from engine import data, lipschitz, mlp
from engine.errors import EngineError
from engine.mlp import MLPSpec

N0 = 6


@pytest.fixture(scope="module")
def points():
    return data.sphere_points(23, N0, seed=3)  # 23: not a multiple of the batch/block sizes used


def _product(spec, params):
    """c_L W_L ⋯ c_1 W_1: the constant input gradient of a linear network without biases."""
    g = np.eye(spec.widths[0])
    for l, layer in enumerate(params, start=1):
        g = spec.forward_factors(l)[0] * np.asarray(layer["W"]) @ g
    return g.reshape(-1)


def _brute_pairwise(f, x):
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.abs(f[:, None] - f[None, :]) / d
    q[~(d > 0)] = -np.inf
    return q.max()


@pytest.mark.parametrize("param", ["ntk", "standard", "unscaled"])
def test_linear_network_gradient_is_the_weight_product(points, param):
    spec = MLPSpec((N0, 9, 7, 1), "linear", param=param, sigma_w=1.3)
    params = mlp.init(spec, seed=1)
    g = _product(spec, params)
    est = lipschitz.estimate(spec, params, points, batch=4, block=5)
    f, grads = lipschitz.input_gradients(spec, params, points, batch=4)
    np.testing.assert_allclose(grads, np.broadcast_to(g, grads.shape), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(f, points @ g, rtol=1e-12, atol=1e-14)
    # every point has the same local constant, ‖g‖, which is the network's Lipschitz constant
    assert est.gradient_norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
    np.testing.assert_allclose(est.norms, np.linalg.norm(g), rtol=1e-12)
    # the pairwise quotient is |gᵀu| for unit directions u: at most ‖g‖, and the brute-force max
    assert est.pairwise <= est.gradient_norm * (1 + 1e-12)
    assert est.pairwise == pytest.approx(_brute_pairwise(points @ g, points), rel=1e-10)


def test_pairwise_reaches_the_gradient_norm_along_the_gradient():
    """For a linear f, two points apart along ∇f give a quotient equal to ‖∇f‖ (the bound is tight)."""
    spec = MLPSpec((3, 5, 1), "linear", param="standard")
    params = mlp.init(spec, seed=2)
    g = _product(spec, params)
    x = np.stack([np.zeros(3), g / np.linalg.norm(g), np.array([1.0, -2.0, 0.5])])
    est = lipschitz.estimate(spec, params, x)
    assert est.pairwise == pytest.approx(np.linalg.norm(g), rel=1e-12)
    assert sorted(est.pair) == [0, 1]


@pytest.mark.parametrize("act, param, sigma_b, scale", [
    ("cos", "ntk", 0.7, 2.0), ("tanh", "standard", 0.3, 1.0), ("relu", "unscaled", 0.0, 1.0)])
def test_one_hidden_layer_gradient_closed_form(points, act, param, sigma_b, scale):
    """f = c₂ W₂ φ(s h), h = c₁ W₁ x + c_b b  ⇒  ∇ₓf = c₁ W₁ᵀ (s φ'(s h) ⊙ c₂ W₂ᵀ)."""
    spec = MLPSpec((N0, 11, 1), act, scale, param, 1.0, sigma_b)
    params = mlp.init(spec, seed=5)
    W1, W2 = (np.asarray(p["W"]) for p in params)
    c1, cb = spec.forward_factors(1)
    c2, _ = spec.forward_factors(2)
    h = c1 * points @ W1.T + (cb * np.asarray(params[0]["b"]) if sigma_b else 0.0)
    dphi = np.asarray(spec.act.derivative(h, scale))
    want = c1 * (dphi * (c2 * W2[0])) @ W1
    _, grads = lipschitz.input_gradients(spec, params, points, batch=7)
    np.testing.assert_allclose(grads, want, rtol=1e-11, atol=1e-13)


@pytest.fixture(scope="module")
def cos_estimate(points):
    spec = MLPSpec((N0, 16, 16, 1), "cos", 1.5, "standard", 1.0, 0.5)
    params = mlp.init(spec, seed=7)
    return spec, params, lipschitz.estimate(spec, params, points, batch=5, block=4)


def test_blocked_estimates_equal_one_block(points, cos_estimate):
    spec, params, est = cos_estimate
    whole = lipschitz.estimate(spec, params, points, batch=len(points), block=len(points))
    np.testing.assert_allclose(est.norms, whole.norms, rtol=1e-13)
    assert est.pairwise == pytest.approx(whole.pairwise, rel=1e-13)
    f = np.asarray(mlp.apply(spec, params, points))[:, 0]
    assert est.pairwise == pytest.approx(_brute_pairwise(f, points), rel=1e-10)
    s = est.summary()
    assert s["min"] <= s["median"] <= s["max"] == est.gradient_norm


def test_pairwise_is_a_lower_bound_by_the_mean_value_theorem(points, cos_estimate):
    """|f(x_i) − f(x_j)| = |∇f(ξ)·(x_i − x_j)| for some ξ on the segment, so the pairwise quotient
    is at most the largest gradient norm on that segment (sampled finely here)."""
    spec, params, est = cos_estimate
    i, j = est.pair
    t = np.linspace(0.0, 1.0, 401)[:, None]
    segment = (1 - t) * points[i] + t * points[j]
    _, grads = lipschitz.input_gradients(spec, params, segment)
    along = np.linalg.norm(grads, axis=1).max()
    assert est.pairwise <= along * (1 + 1e-3)
    # and the data's gradient-norm estimate is well above it for spread-out points
    assert est.pairwise < est.gradient_norm


def test_duplicate_points_are_skipped():
    spec = MLPSpec((2, 4, 1), "tanh", param="standard")
    params = mlp.init(spec)
    x = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 0.5]])
    est = lipschitz.estimate(spec, params, x)
    assert np.isfinite(est.pairwise) and 2 in est.pair
    alone = lipschitz.estimate(spec, params, x[:2])
    assert alone.pairwise is None and alone.pair is None  # the only pair is one point twice
    assert lipschitz.estimate(spec, params, x[:1]).pairwise is None


def test_ntk_and_standard_parameterisations_give_the_same_numbers(points):
    a = lipschitz.network_estimate(MLPSpec((N0, 8, 8, 1), "sin", param="ntk", sigma_w=1.2), points)
    b = lipschitz.network_estimate(MLPSpec((N0, 8, 8, 1), "sin", param="standard", sigma_w=1.2),
                                   points)
    np.testing.assert_allclose(a.norms, b.norms, rtol=1e-12)
    assert a.pairwise == pytest.approx(b.pairwise, rel=1e-12)


SWEEP = (64, 256, 1024)


@pytest.fixture(scope="module")
def sweep_data():
    return data.sphere_points(100, 20, seed=0)


def _sweep(x, act, param):
    return [lipschitz.network_estimate(MLPSpec((20, 64, 64, w, 1), act, param=param), x).gradient_norm
            for w in SWEEP]


def test_seed000_cos_lipschitz_stays_bounded_as_n3_grows(sweep_data):
    """Seed 000 Fig. 3 on a reduced sweep (n₀ = 20, N = 100, n₃ = 64 … 1024, standard
    parameterisation): the estimate moves by < 25 % over a 16-fold width (measured: 0.451, 0.470,
    0.429, max/min 1.10)."""
    est = _sweep(sweep_data, "cos", "standard")
    assert max(est) / min(est) < 1.25
    assert 0.1 < min(est) and max(est) < 2.0


def test_unscaled_lipschitz_grows_like_sqrt_n3(sweep_data):
    """The contrast the command's docstring gives for its default: without the 1/n factor the last
    layer alone scales ∇ₓf by ≈ √n₃, 4× over the sweep (measured 3.8×): the estimator sees growth."""
    est = _sweep(sweep_data, "cos", "unscaled")
    assert est[0] < est[1] < est[2]
    assert 3.0 < est[2] / est[0] < 5.0


@pytest.mark.parametrize("spec, x, needle", [
    (MLPSpec((2, 3, 1), "heaviside"), np.zeros((3, 2)), "zero derivative"),
    (MLPSpec((2, 3, 2), "relu"), np.zeros((3, 2)), "one output"),
    (MLPSpec((2, 3, 1), "relu"), np.zeros((3, 4)), "N × 2"),
    (MLPSpec((2, 3, 1), "relu"), np.full((3, 2), np.nan), "NaN"),
])
def test_engine_refuses_with_a_message(spec, x, needle):
    with pytest.raises(EngineError, match=needle):
        lipschitz.network_estimate(spec, x)


# --- the command ---------------------------------------------------------------------------

CLI = ("lipschitz", "--samples", "30", "--n0", "6", "--n0", "8", "--widths", "8,16")


def test_cli_json_has_the_documented_keys_and_the_engine_numbers(ntk):
    r = ntk(*CLI, "--act", "cos", "--act", "tanh", "--json")
    assert r.code == 0, r.err
    assert r.out.count("\n") == 1
    j = r.json()
    assert {"results", "samples", "device", "timings"} <= j.keys() and j["interrupted"] is False
    assert j["samples"] == 30 and j["param"] == "standard"
    assert [(e["activation"], e["n0"]) for e in j["results"]] == [
        ("cos", 6), ("cos", 8), ("tanh", 6), ("tanh", 8)]
    for e in j["results"]:
        assert {"activation", "n0", "widths", "gradient_norm", "pairwise"} <= e.keys()
        assert e["widths"] == [8, 16]
        assert all(p <= g for p, g in zip(e["pairwise"], e["gradient_norm"]))
        assert [s["max"] for s in e["gradient_norm_summary"]] == e["gradient_norm"]
    # the same network on the same synthetic points, computed directly
    x = data.sphere_points(30, 8, 0)
    want = lipschitz.network_estimate(MLPSpec((8, 64, 64, 16, 1), "tanh", param="standard"), x)
    assert j["results"][3]["gradient_norm"][1] == pytest.approx(want.gradient_norm, rel=1e-12)


def test_cli_human_output_and_data_file(ntk, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, data.sphere_points(12, 5, seed=9))
    r = ntk("lipschitz", "--data", str(path), "--widths", "8,32", "--act", "relu", "--plot-width", "70")
    assert r.code == 0, r.err
    assert "Lipschitz estimate" in r.out and "pairwise" in r.out and "max ‖∇ₓf‖" in r.out
    # a plot was drawn: a curve of braille dots over several rows, on ticked axes
    curve_rows = [line for line in r.out.splitlines() if any("\u2801" <= c <= "\u28ff" for c in line)]
    assert len(curve_rows) >= 5 and r.out.count("┤") >= 2 and "n₃" in r.out
    j = ntk("lipschitz", "--data", str(path), "--widths", "8", "--act", "relu", "--json").json()
    assert j["samples"] == 12 and j["results"][0]["n0"] == 5 and "x.npy" in j["data"][0]


def test_cli_ctrl_c_keeps_the_finished_rows(ntk, ctrl_c_on_call):
    ctrl_c_on_call(lipschitz, "network_estimate", 3)
    r = ntk(*CLI, "--act", "cos", "--json")
    assert r.code == 130 and r.err == "ntk: interrupted\n"
    j = r.json()
    assert j["interrupted"] is True
    assert [(e["n0"], e["widths"]) for e in j["results"]] == [(6, [8, 16])]
    ctrl_c_on_call(lipschitz, "network_estimate", 3)
    r = ntk(*CLI, "--act", "cos", "--plot-width", "60")
    assert r.code == 130 and "interrupted: the rows above" in r.out and "cos" in r.out


@pytest.mark.parametrize("args, needle", [
    (("--widths", "0"), "positive"),
    (("--widths", "8,x"), "integers"),
    (("--act", "nope"), "unknown activation"),
    (("--act", "heaviside"), "zero derivative"),
    (("--n0", "0"), "--n0"),
    (("--samples", "0"), "--samples"),
    (("--data", "missing.npy"), "--data"),
    (("--param", "bogus"), "--param"),
    (("--sigma-w", "0"), "--sigma-w"),
    (("--scale", "nan"), "finite"),
])
def test_cli_bad_input_is_one_line_with_code_2(ntk, args, needle):
    r = ntk("lipschitz", *with_args(("--samples", "5", "--n0", "3", "--widths", "4"), args))
    assert_one_line_error(r, needle)


def test_cli_missing_data_file(ntk):
    r = ntk("lipschitz", "--data", "/nonexistent/x.npy")
    assert r.code == 2 and "no such file" in r.err
