"""Memorisation by full-batch GD (docs/maths.md#lipschitz-and-memorisation): the sum-of-squares
convention against the empirical NTK, monotone descent at η = 1/λ_max, wide networks fitting random
labels where narrow ones cannot, and the `ntk memorize` contract."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, with_args

from engine import mlp, ntk as ntk_engine, train
from engine.data import sphere_points
from engine.errors import EngineError
from engine.mlp import MLPSpec

N, N0, STEPS = 40, 10, 500


@pytest.fixture(scope="module")
def data():
    return sphere_points(N, N0, seed=0), train.random_labels(N, seed=0)


@pytest.fixture(scope="module")
def runs(data):
    """Each activation at a narrow width (1: n₀ + 1 = 11 parameters < N) and a wide one (256)."""
    x, y = data
    return {(a, w): train.memorise(MLPSpec((N0, w, 1), a), x, y, steps=STEPS, chunk=128)
            for a in ("cos", "relu") for w in (1, 256)}


def test_random_labels_are_seeded_signs():
    y = train.random_labels(500, seed=4)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert 200 < (y > 0).sum() < 300
    np.testing.assert_array_equal(y, train.random_labels(500, seed=4))
    assert not np.array_equal(y, train.random_labels(500, seed=5))


def test_fraction_fitted_definition():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    assert train.fraction_fitted([0.6, -1.4, -0.1, np.nan], y) == 0.5  # |f − y| < ½, NaN not fitted
    assert train.fraction_fitted(y, y) == 1.0


def test_one_gd_step_moves_outputs_by_minus_eta_K_r(data):
    """With L = ½‖f − y‖² (a sum), ∇L = Jᵀr and one small step changes f by −ηJJᵀr = −ηKr + O(η²):
    the kernel of the step is the empirical NTK itself, with no 1/N."""
    x, y = data
    spec = MLPSpec((N0, 32, 1), "tanh", sigma_b=0.5)
    params = mlp.init(spec, seed=1)
    K = np.asarray(ntk_engine.layerwise_ntk(spec, params, x))
    f0 = np.asarray(mlp.apply(spec, params, x))[:, 0]
    r = f0 - y
    assert float(train.loss(spec, params, x, y)) == pytest.approx(0.5 * r @ r, rel=1e-13)
    for eta in (1e-4, 1e-5):
        p1, losses = train.gradient_descent(spec, params, x, y, eta, 1)
        f1 = np.asarray(mlp.apply(spec, p1, x))[:, 0]
        err = np.linalg.norm((f1 - f0) + eta * K @ r) / np.linalg.norm(eta * K @ r)
        assert err < 200 * eta  # second order in η
        assert losses[0] == pytest.approx(0.5 * r @ r, rel=1e-13) and len(losses) == 2


def test_default_step_is_one_over_lambda_max(runs):
    for r in runs.values():
        assert r.lr_from_ntk and r.lr_relative == pytest.approx(1.0, rel=1e-14)
        assert r.steps == STEPS and len(r.losses) == STEPS + 1 and not r.stopped


@pytest.mark.parametrize("act", ["cos", "relu"])
def test_gd_loss_decreases_monotonically_at_one_over_lambda_max(runs, act):
    """The wide network's actual (nonlinear) GD loss never rises while it is above round-off."""
    L = runs[act, 256].losses
    live = L[:-1] > 1e-20 * L[0]
    assert live.sum() > 100
    rise = np.diff(L)[live]
    assert np.all(rise <= 1e-12 * L[0]), rise.max()
    assert L[-1] < 1e-2 * L[0]


def test_step_beyond_the_stability_edge_raises_the_loss(data):
    """At η = 2.5/λ_max the top linearised mode grows by |1 − 2.5| = 1.5 a step: the loss rises."""
    x, y = data
    spec = MLPSpec((N0, 256, 1), "relu")
    edge = train.memorise(spec, x, y, steps=1, chunk=128)
    over = train.memorise(spec, x, y, steps=40, lr=2.5 / edge.spectrum.lambda_max, chunk=128)
    assert not over.lr_from_ntk and over.lr_relative == pytest.approx(2.5)
    assert over.diverged or over.losses.max() > over.losses[0]


@pytest.mark.parametrize("act", ["cos", "relu"])
def test_wide_fits_random_labels_narrow_does_not(runs, act):
    """Width 256 fits all 40 random labels; width 1 has n₀ + 1 = 11 parameters < N, so its NTK has
    rank ≤ 11 (λ_min below the floor) and it cannot interpolate: measured fractions cos 0.65,
    relu 0.25 at width 1, 1.0 at 256."""
    wide, narrow = runs[act, 256], runs[act, 1]
    assert wide.fraction_fitted == 1.0 and wide.spectrum.lambda_min is not None
    assert narrow.fraction_fitted < 0.8
    assert narrow.spectrum.lambda_min is None  # rank(K) ≤ parameter count = 11 < 40
    assert narrow.final_loss > 100 * wide.final_loss
    assert narrow.spec.parameter_count < N


def test_callback_stops_between_chunks(data):
    x, y = data
    seen = []
    r = train.memorise(MLPSpec((N0, 8, 1), "relu"), x, y, steps=300, chunk=128,
                       callback=lambda done: seen.append(done) or done >= 128)
    assert seen == [128] and r.stopped and r.steps == 128 and len(r.losses) == 129


@pytest.mark.parametrize("kwargs, needle", [
    ({"spec": MLPSpec((N0, 4, 1), "heaviside")}, "zero derivative"),
    ({"spec": MLPSpec((N0, 4, 2), "relu")}, "one output"),
    ({"steps": 0}, "steps"),
    ({"lr": -1.0}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"),
    ({"y": np.ones(3)}, "labels"),
])
def test_engine_refuses_with_a_message(data, kwargs, needle):
    x, y = data
    args = {"spec": MLPSpec((N0, 4, 1), "relu"), "steps": 5, "lr": None, "y": y} | kwargs
    with pytest.raises(EngineError, match=needle):
        train.memorise(args["spec"], x, args["y"], steps=args["steps"], lr=args["lr"])


# --- the command ---------------------------------------------------------------------------

CLI = ("memorize", "--samples", "20", "--n0", "5", "--widths", "1,1N,64", "--steps", "150")


def test_cli_json_has_the_documented_keys(ntk):
    r = ntk(*CLI, "--json")
    assert r.code == 0, r.err
    assert r.out.count("\n") == 1
    j = r.json()
    assert {"results", "samples", "n0", "steps", "device", "timings"} <= j.keys()
    assert [e["activation"] for e in j["results"]] == ["cos", "relu"]  # the defaults
    for e in j["results"]:
        assert {"activation", "widths", "final_loss", "fraction_fitted", "lambda_min"} <= e.keys()
        assert e["widths"] == [1, 20, 64]
        assert all(0.0 <= f <= 1.0 for f in e["fraction_fitted"])
        assert [c["loss"][-1] for c in e["loss_curves"]] == e["final_loss"]
        assert all(c["steps"][-1] == 150 for c in e["loss_curves"])
        for lmin, floor in zip(e["lambda_min"], e["floor"]):
            assert lmin is None or lmin > floor
        assert e["fraction_fitted"][-1] > e["fraction_fitted"][0]
        assert e["lambda_min"][0] is None  # 6 parameters, 20 points


def test_cli_human_output(ntk):
    r = ntk("memorize", "--samples", "12", "--n0", "4", "--widths", "2,32", "--steps", "50",
            "--act", "sin", "--plot-width", "70")
    assert r.code == 0, r.err
    assert "Memorisation of 12 random labels" in r.out and "λ_min(K₀)" in r.out
    assert "below floor" in r.out  # width 2: 10 parameters for 12 points
    assert "Final loss after 50 GD steps" in r.out and r.out.count("┬") >= 2  # a plot was drawn


def test_cli_ctrl_c_keeps_the_finished_rows(ntk, ctrl_c_on_call):
    ctrl_c_on_call(train, "memorise", 2)
    r = ntk(*CLI, "--act", "relu", "--plot-width", "60")
    assert r.code == 130 and r.err == "ntk: interrupted\n"
    assert "interrupted: the rows above" in r.out and "relu" in r.out


@pytest.mark.parametrize("args, needle", [
    (("--widths", "0"), "positive"),
    (("--widths", "8,y"), "--widths"),
    (("--act", "nope"), "unknown activation"),
    (("--act", "heaviside"), "zero derivative"),
    (("--steps", "0"), "--steps"),
    (("--lr", "0"), "--lr"),
    (("--lr", "nan"), "--lr"),
    (("--samples", "0"), "--samples"),
    (("--param", "bogus"), "--param"),
    (("--scale", "inf"), "finite"),
])
def test_cli_bad_input_is_one_line_with_code_2(ntk, args, needle):
    r = ntk("memorize", *with_args(("--samples", "5", "--n0", "3", "--widths", "4", "--steps", "3"),
                                   args))
    assert_one_line_error(r, needle)
