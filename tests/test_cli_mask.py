"""`ntk mask` and `ntk iterations` through the real entry point: the JSON must be the mathematics
of docs/maths.md (shrinkage masks, iterations) applied to the spectrum it reports, and bad input one line with code 2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

N = 32  # relu on aligned N × N grids has σ_N = 0 exactly: one value below the round-off floor
K = 4


MASK_ARGS = ("mask", "--act", "relu", "--width", str(N), "--k", str(K), "--steps", "300",
             "--eta", "1.2", "--lam", "1e-3")


@pytest.fixture
def mask_json(ntk):
    # Function-scoped (ntk captures with capsys); the compiled spectrum is cached, so reruns are cheap.
    return _json(ntk, *MASK_ARGS)


@pytest.fixture
def iterations_json(ntk):
    return _json(ntk, "iterations", "--act", "heaviside", "--act", "relu", "--width", str(N))


def _json(ntk, *args):
    r = ntk(*args, "--json")
    assert r.code == 0, r.err
    assert r.out.count("\n") == 1  # exactly one JSON object, on one line
    return r.json()


def _array(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def test_mask_json_has_the_documented_keys(mask_json):
    documented = {"activation", "scale", "samples", "width", "eta", "steps", "lambda", "k",
                  "singular_values", "normalized", "masks", "grey_zone", "iterations_for_k"}
    assert documented <= mask_json.keys()
    assert set(mask_json["masks"]) == {"ridge", "pca", "gd", "flow"}
    assert (mask_json["activation"], mask_json["samples"], mask_json["width"]) == ("relu", N, N)
    for values in (mask_json["singular_values"], mask_json["normalized"],
                   *mask_json["masks"].values()):
        assert len(values) == N


def test_mask_json_values_below_the_floor_are_null(mask_json):
    sigma = mask_json["singular_values"]
    assert sigma[-1] is None  # the exact zero singular value of relu on aligned grids
    unresolved = [i for i, v in enumerate(sigma) if v is None]
    for name in ("ridge", "gd", "flow"):
        assert [i for i, v in enumerate(mask_json["masks"][name]) if v is None] == unresolved
    assert [i for i, v in enumerate(mask_json["normalized"]) if v is None] == unresolved
    assert None not in mask_json["masks"]["pca"]  # an index threshold, defined everywhere


def test_mask_json_is_the_closed_form_masks(mask_json):
    j = mask_json
    sigma = _array(j["singular_values"])
    ok = np.isfinite(sigma)
    s1 = sigma[0]
    eta, lam, steps = j["eta"], j["lambda"], j["steps"]
    assert eta * s1**2 == pytest.approx(j["eta_relative"]) and j["eta_relative"] == 1.2
    assert lam / s1**2 == pytest.approx(j["lambda_relative"])
    np.testing.assert_allclose(_array(j["normalized"])[ok], sigma[ok] / s1, rtol=1e-14)
    expected = {
        "ridge": sigma**2 / (sigma**2 + lam),
        "gd": 1 - (1 - eta * sigma**2) ** steps,
        "flow": 1 - np.exp(-eta * sigma**2 * steps),
    }
    for name, want in expected.items():
        np.testing.assert_allclose(_array(j["masks"][name])[ok], want[ok], rtol=0, atol=1e-12)
    assert j["masks"]["pca"] == [1.0] * K + [0.0] * (N - K)
    for name, values in j["masks"].items():
        assert j["kept_above_half"][name] == sum(v is not None and v > 0.5 for v in values)


def test_mask_json_grey_zone_and_iterations(mask_json):
    j = mask_json
    eta, steps, g = j["eta"], j["steps"], j["grey_zone"]
    gd = lambda s, t=steps: 1 - (1 - eta * s**2) ** t  # noqa: E731
    assert gd(g["sigma_high"]) == pytest.approx(0.99, abs=1e-10)
    assert gd(g["sigma_low"]) == pytest.approx(0.01, abs=1e-10)
    assert 20 * math.log10(g["sigma_high"] / g["sigma_low"]) == pytest.approx(g["db"])
    # the iterations that keep k components bring the mask's envelope at σ_k to τ
    sk = j["singular_values"][K - 1]
    envelope = 1 - abs(1 - eta * sk**2) ** j["iterations_for_k"]
    assert envelope == pytest.approx(j["tau"], abs=1e-9)
    assert j["tau"] == pytest.approx(1 - math.exp(-1))


def test_iterations_json_shape(iterations_json):
    j = iterations_json
    assert {"samples", "width", "scale", "tau", "results"} <= j.keys()
    assert [r["activation"] for r in j["results"]] == ["heaviside", "relu"]
    for r in j["results"]:
        assert r["k"] == list(range(1, N + 1))
        assert len(r["iterations"]) == N
        # an iteration count exists exactly where σ_k is above the round-off floor
        assert [t is None for t in r["iterations"]] == [v is None for v in r["normalized"]]
    relu = j["results"][1]
    assert relu["iterations"][-1] is None and None not in relu["iterations"][:-1]


def test_iterations_are_the_fewest_whole_steps_that_reach_tau(iterations_json):
    """With η = 1/σ₁² the GD mask at σ_k after T steps is 1 − (1 − r_k²)^T, r_k = σ_k/σ₁."""
    tau = iterations_json["tau"]
    for r in iterations_json["results"]:
        for t, rk in zip(r["iterations"], r["normalized"]):
            if t is None:
                continue
            if rk == 1:  # σ_k = σ₁: one step of η = 1/σ₁² gives mask 1 there
                assert t == 1
                continue
            mask = lambda steps: -math.expm1(steps * math.log1p(-(rk**2)))  # noqa: E731
            assert mask(t) >= tau - 1e-12
            assert t == 1 or mask(t - 1) < tau + 1e-12


def test_heaviside_iterations_follow_its_exact_spectrum(iterations_json):
    """σ_k = 1/(2 sin((2k−1)π/(4N+2))) exactly (docs/maths.md, the shallow Jacobian), so T_k = ⌈log(1 − τ)/log(1 − (σ_k/σ₁)²)⌉."""
    tau = iterations_json["tau"]
    k = np.arange(2, N + 1)
    sigma = 1.0 / (2.0 * np.sin((2 * np.arange(1, N + 1) - 1) * np.pi / (4 * N + 2)))
    real = np.log1p(-tau) / np.log1p(-((sigma[k - 1] / sigma[0]) ** 2))
    got = np.array(iterations_json["results"][0]["iterations"][1:], dtype=np.float64)
    assert np.all(got >= real - 1e-6) and np.all(got - 1 < real + 1e-6)


def test_iterations_order_heaviside_below_relu(iterations_json):
    heaviside, relu = (r["iterations"] for r in iterations_json["results"])
    assert all(h < r for h, r in zip(heaviside[2:-1], relu[2:-1]))


def test_mask_human_output_has_plots_and_tables(ntk):
    r = ntk("mask", "--act", "relu", "--width", str(N), "--k", str(K), "--plot-width", "80")
    assert r.code == 0, r.err
    assert "Shrinkage masks" in r.out and "Normalised singular values" in r.out
    assert "grey-zone width (dB)" in r.out and "#kept > ½" in r.out
    assert r.out.count("┤") > 5  # axis ticks: a plot was drawn, not only its title


def test_iterations_human_output(ntk):
    r = ntk("iterations", "--act", "heaviside", "--act", "relu", "--width", str(N),
            "--plot-width", "80")
    assert r.code == 0, r.err
    assert "GD iterations to keep k components" in r.out
    assert "below floor" in r.out  # relu's σ_N = 0 at k = N, which the table shows
    assert "T(k=4)" in r.out and f"T(k={N})" in r.out


@pytest.mark.parametrize("args", [
    ("--eta", "nan"), ("--eta", "inf"), ("--eta", "2"), ("--eta", "3.5"), ("--eta", "0"),
    ("--eta", "-1"), ("--steps", "0"), ("--steps", "2.5"), ("--steps", "inf"), ("--lam", "0"),
    ("--lam", "nan"), ("--width", "0"), ("--act", "nope"), ("--k", "0"), ("--k", "999"),
    ("--scale", "nan"),
])
def test_mask_bad_input_is_one_line_with_code_2(ntk, args):
    r = ntk("mask", "--width", str(N), *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("ntk: error:")


@pytest.mark.parametrize("args", [
    ("--width", "0"), ("--act", "nope"), ("--act", "relu", "--act", "bogus"), ("--tau", "1"),
    ("--tau", "0"), ("--tau", "nan"), ("--scale", "inf"), ("--samples", "-3"),
])
def test_iterations_bad_input_is_one_line_with_code_2(ntk, args):
    r = ntk("iterations", "--width", str(N), *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("ntk: error:")


def test_unstable_step_message_says_why(ntk):
    r = ntk("mask", "--width", str(N), "--eta", "2")
    assert "unstable" in r.err and "2/σ₁²" in r.err


def test_typer_runner_success_path(mask_json):
    from typer.testing import CliRunner

    from ntktui.cli import app

    result = CliRunner().invoke(app, [*MASK_ARGS, "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["masks"] == mask_json["masks"]  # the same computation through Typer's runner
