"""`ntk spline`, `ntk components`, `ntk devices` through the real entry point."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest


def one_error_line(result) -> None:
    assert result.code == 2
    lines = result.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("ntk: error:"), result.err
    assert result.out == ""


# --- spline ---------------------------------------------------------------------------------

def test_spline_json(ntk):
    size, cols = 20, [2, 9, 17]
    r = ntk("spline", "--json", "--size", str(size), "--order", "1,2", "--order", "3",
            "--columns", ",".join(map(str, cols)))
    assert r.code == 0, r.err
    data = r.json()
    assert {"size", "orders", "columns", "i", "results"} <= set(data)
    assert data["size"] == size and data["orders"] == [1, 2, 3] and data["columns"] == cols
    assert data["i"] == list(range(1, size + 1))
    for res in data["results"]:
        p = res["order"]
        flt = np.array(res["filter"])
        np.testing.assert_array_equal(flt, [(-1) ** k * math.comb(p, k) for k in range(p + 1)])
        for c, col, ref in zip(cols, res["inverse_columns"], res["closed_form_columns"]):
            col = np.array(col)
            # the filter applied causally to column j of D_p⁻¹ gives the unit vector e_j
            conv = np.convolve(col, flt)[:size]
            np.testing.assert_allclose(conv, np.eye(size)[c - 1], atol=1e-12)
            t = np.arange(size) - (c - 1)
            expected = [math.comb(v + p - 1, p - 1) if v >= 0 else 0 for v in t]
            np.testing.assert_allclose(col, expected, atol=1e-12)
            np.testing.assert_allclose(ref, expected, atol=1e-12)
        assert res["closed_form_deviation"] == 0 and res["inverse_residual"] == 0
    assert data["results"][2]["activation_deviation"] == pytest.approx(size / 2)


def test_spline_human_output_has_plots_and_table(ntk):
    r = ntk("spline", "--size", "24", "--columns", "3,12", "--plot-width", "70")
    assert r.code == 0, r.err
    assert "p=1" in r.out and "p=3" in r.out
    assert "┌" in r.out and "┘" in r.out and "\x1b[" not in r.out  # a plot, plain in a pipe
    assert "C(t+p−1,p−1)" in r.out


@pytest.mark.parametrize("args", [
    ("spline", "--order", "0"),
    ("spline", "--size", "0"),
    ("spline", "--size", "10", "--columns", "11"),
    ("spline", "--order", "x"),
])
def test_spline_bad_input(ntk, args):
    one_error_line(ntk(*args))


# --- components -----------------------------------------------------------------------------

def test_components_json_1d(ntk):
    n, m, count = 24, 32, 3
    r = ntk("components", "--json", "--act", "heaviside", "--act", "relu", "--samples", str(n),
            "--width", str(m), "--count", str(count))
    assert r.code == 0, r.err
    data = r.json()
    assert set(data) == {"samples", "width", "scale", "count", "x", "results", "interrupted",
                         "provenance"}
    assert (data["samples"], data["width"], data["count"]) == (n, m, count)
    np.testing.assert_allclose(data["x"], np.arange(n) / n)
    assert [res["activation"] for res in data["results"]] == ["heaviside", "relu"]
    for res in data["results"]:
        assert set(res) == {"activation", "singular_values", "components"}
        u = np.array(res["components"])
        assert u.shape == (count, n)
        np.testing.assert_allclose(u @ u.T, np.eye(count), atol=1e-10)  # orthonormal
        sigma = np.array(res["singular_values"])
        assert sigma.shape == (count,) and np.all(np.diff(sigma) <= 0)
        # σ_k is the norm of Aᵀu_k, and Aᵀu_k ⟂ Aᵀu_l: check through A built here from the grid
        x, b = np.arange(n) / n, np.arange(m) / m
        t = 32.0 * (x[:, None] - b[None, :])
        a = (t >= 0).astype(float) if res["activation"] == "heaviside" else np.maximum(t, 0)
        np.testing.assert_allclose(np.linalg.norm(a.T @ u.T, axis=0), sigma, rtol=1e-10)


def test_components_json_2d(ntk):
    side, width, count = 6, 24, 3
    r = ntk("components", "--2d", "--json", "--side", str(side), "--width", str(width),
            "--count", str(count), "--seed", "3")
    assert r.code == 0, r.err
    data = r.json()
    assert {"side", "width", "activation", "results", "dst"} <= set(data)
    assert data["activation"] == "relu" and data["side"] == side
    assert [res["init"] for res in data["results"]] == ["rank-one", "full-rank"]
    for res in data["results"]:
        imgs = np.array(res["components"])
        assert imgs.shape == (count, side, side)
        flat = imgs.reshape(count, -1)
        np.testing.assert_allclose(flat @ flat.T, np.eye(count), atol=1e-10)
        assert len(res["singular_values"]) == count
    dst = np.array(data["dst"])
    assert dst.shape == (count, side, side)
    # the first DST image is sin(πx)·sin(πy) on the cell centres
    c = (np.arange(side) + 0.5) / side
    np.testing.assert_allclose(dst[0], np.outer(np.sin(np.pi * c), np.sin(np.pi * c)), atol=1e-12)


def test_components_human_output(ntk):
    r = ntk("components", "--act", "tanh", "--width", "32", "--count", "2", "--plot-width", "70")
    assert r.code == 0, r.err
    assert "tanh: principal components" in r.out
    assert "┌" in r.out and "┘" in r.out and "\x1b[" not in r.out  # a plot, plain in a pipe


def test_components_2d_human_output(ntk, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    r = ntk("components", "--2d", "--side", "8", "--width", "24", "--count", "2")
    assert r.code == 0, r.err
    for row in ("rank-one", "full-rank", "DST"):
        assert row in r.out
    assert "@" in r.out  # the shade ramp's darkest level appears in every normalised image


@pytest.mark.parametrize("args", [
    ("components", "--act", "nope"),
    ("components", "--width", "0"),
    ("components", "--samples", "8", "--width", "16", "--count", "9"),
    ("components", "--count", "0"),
    ("components", "--2d", "--side", "0"),
    ("components", "--2d", "--act", "relu", "--act", "tanh"),
    ("components", "--scale", "nan"),
])
def test_components_bad_input(ntk, args):
    one_error_line(ntk(*args))


# --- devices --------------------------------------------------------------------------------

def test_devices_json(ntk):
    r = ntk("devices", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert set(data) - {"provenance"} == {"backend", "devices", "device_kinds", "default_dtype",
                                          "x64_enabled",
                         "jax_version", "memory_available_bytes"}
    import jax

    assert data["x64_enabled"] is True and data["default_dtype"] == "float64"
    assert data["jax_version"] == jax.__version__
    assert len(data["devices"]) == len(data["device_kinds"]) == len(jax.devices())
    assert data["memory_available_bytes"] > 0


def test_devices_table(ntk):
    r = ntk("devices")
    assert r.code == 0 and "backend" in r.out and "float64" in r.out


# --- Typer's own runner ---------------------------------------------------------------------

def test_cli_runner_success_path():
    from typer.testing import CliRunner

    from ntktui.cli import app

    result = CliRunner().invoke(app, ["spline", "--json", "--size", "12", "--order", "2",
                                      "--columns", "1,5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    col = np.array(data["results"][0]["inverse_columns"][1])
    np.testing.assert_allclose(col, np.maximum(np.arange(12) - 4 + 1, 0))  # relu(t+1), j = 5
