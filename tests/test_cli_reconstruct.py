"""`ntk reconstruct` and the signal loaders behind it."""

from __future__ import annotations

import numpy as np
import pytest

from ntktui import signals
from ntktui.errors import UserError

RAW = np.array([3.0, -1.0, 5.0, 2.0, 0.5])
SCALED = (RAW + 1.0) / 6.0  # min–max: min −1, span 6


# --- signals ---------------------------------------------------------------------------------

def test_default_is_a_camera_row_scaled_by_the_uint8_range():
    from skimage.data import camera

    sig = signals.load()
    np.testing.assert_allclose(sig.values, camera()[signals.DEFAULT_ROW] / 255.0, atol=1e-15)
    assert f"row {signals.DEFAULT_ROW}" in sig.description and "512" in sig.description


def test_npy_round_trip_is_min_max_scaled(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, RAW)
    np.testing.assert_allclose(signals.load(signal=str(path)).values, SCALED)


@pytest.mark.parametrize("text", ["3\n-1\n5\n2\n0.5\n", "3, -1, 5, 2, 0.5\n"])
def test_csv_round_trip_is_min_max_scaled(tmp_path, text):
    path = tmp_path / "s.csv"
    path.write_text(text)
    np.testing.assert_allclose(signals.load(signal=str(path)).values, SCALED)


def test_grey_png_row_is_scaled_by_the_dtype_range(tmp_path):
    import imageio.v3 as iio

    img = np.random.default_rng(0).integers(0, 256, size=(8, 16), dtype=np.uint8)
    path = tmp_path / "g.png"
    iio.imwrite(path, img)
    sig = signals.load(image=str(path), row=3)
    np.testing.assert_allclose(sig.values, img[3] / 255.0)
    assert sig.description.startswith("g.png row 3")


def test_colour_png_is_grey_by_luminance(tmp_path):
    import imageio.v3 as iio

    grey = np.random.default_rng(1).integers(0, 256, size=(4, 16), dtype=np.uint8)
    img = np.repeat(grey[..., None], 3, axis=-1)
    img[0, ::2] = (0, 255, 0)  # green is brighter than blue at equal intensity
    img[0, 1::2] = (0, 0, 255)
    path = tmp_path / "c.png"
    iio.imwrite(path, img)
    # R = G = B: luminance weights sum to one, so the grey level is kept.
    np.testing.assert_allclose(signals.load(image=str(path), row=2).values, grey[2] / 255.0,
                               atol=1e-6)
    row0 = signals.load(image=str(path), row=0).values
    assert np.all(row0[::2] > row0[1::2])


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    return str(path)


@pytest.mark.parametrize("name, content, match", [
    ("two_d.npy", np.ones((3, 4)), "1-D"),
    ("short.npy", np.array([0.0, 1.0, 0.5]), "at least"),
    ("nan.npy", np.array([0.0, np.nan, 1.0, 0.5]), "non-finite"),
    ("flat.csv", "2\n2\n2\n2\n2\n", "constant"),
    ("junk.csv", "a,b,c\n", "line 1: 'a' is not a real number"),
    ("fake.png", "not an image", "is not an image"),
])
def test_bad_files_are_user_errors(tmp_path, name, content, match):
    path = _write(tmp_path, name, content)
    kind = "image" if name.endswith(".png") else "signal"
    with pytest.raises(UserError, match=match) as err:
        signals.load(**{kind: path})
    assert "\n" not in str(err.value)


def test_bad_choices_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        signals.load(signal=str(tmp_path / "missing.npy"))
    with pytest.raises(UserError, match="0–511"):
        signals.load(row=512)
    with pytest.raises(UserError, match="not both"):
        signals.load(image="a.png", signal="b.npy")


# --- CLI -------------------------------------------------------------------------------------

def test_json_is_one_object_with_matching_lengths(ntk):
    res = ntk("reconstruct", "--json", "--k", "4,16,64")
    assert res.code == 0, res.err
    assert len(res.out.strip().splitlines()) == 1
    data = res.json()
    assert set(data) == {"signal", "samples", "train_samples", "width", "k", "dst_psnr", "results",
                         "x", "values", "interrupted", "provenance"}
    # every plotted array is in the JSON: the signal and each curve's reconstruction on it
    assert len(data["x"]) == len(data["values"]) == data["samples"]
    assert data["k"] == [4, 16, 64] and len(data["dst_psnr"]) == 3
    assert data["train_samples"] == data["samples"] // 2 == data["width"]
    assert {(r["activation"], r["strategy"]) for r in data["results"]} == {
        (a, s) for a in ("tanh", "relu", "sinc", "gaussian") for s in ("iterations", "scale")}
    for r in data["results"]:
        assert len(r["psnr"]) == len(r["steps"]) == len(r["scale"]) == 3
        assert len(r["reconstruction"]) == data["samples"]
        assert isinstance(r["relative_rise"], float)
        if r["strategy"] == "scale":
            assert r["scale"] == data["k"]  # strategy (b): s = k


def test_signal_file_sets_the_sizes(ntk, tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.sin(np.linspace(0, 6, 64)))
    res = ntk("reconstruct", "--json", "--signal", str(path), "--act", "sinc",
              "--strategy", "scale", "--k", "2,8")
    assert res.code == 0, res.err
    data = res.json()
    assert (data["samples"], data["train_samples"], data["width"]) == (64, 32, 32)
    assert [(r["activation"], r["strategy"]) for r in data["results"]] == [("sinc", "scale")]


def test_human_output_through_typer():
    from typer.testing import CliRunner

    from ntktui.cli import app

    res = CliRunner().invoke(app, ["reconstruct", "--act", "relu", "--strategy", "iterations",
                                   "--k", "4,8", "--plot-width", "60"])
    assert res.exit_code == 0, res.output
    assert "DST" in res.output and "GD iterations" in res.output


@pytest.mark.parametrize("args", [
    ("--signal", "no/such/file.npy"),
    ("--row", "9999"),
    ("--k", "4,600"),
    ("--width", "16", "--k", "32"),
    ("--act", "nope"),
    ("--strategy", "sideways"),
])
def test_bad_input_is_one_line_and_exit_2(ntk, args):
    res = ntk("reconstruct", *args)
    assert res.code == 2
    assert res.out == ""
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk: error:")
