"""`ntk train` (issue 13): GD on a coordinate network against its NTK prediction, from the command
line. The JSON is the engine's (engine.lab) for every network; one-line errors for combinations
that make no sense; memory refused before anything is loaded; Ctrl-C and the dashboard's cancel
keep the finished checkpoints; the partial Reports have the final one's shape; views redraw
without training; and the claims of the bundled presets on their quick sizes, which also carry
the contract of several networks (the lazy limit) and of 2-D pictures (SIREN).

Every network costs its compilations (cold in a test session), so the tests share networks: one
tiny 1-D network for the contract, and the presets' own for the rest."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error

from ntktui import images, presets, signals
from ntktui.report import Cancelled, Progress
from ntktui.studies import train

# A smooth signal with an edge: 40 samples, 20 training points.
SIGNAL = np.clip(0.5 + 0.3 * np.sin(np.linspace(0, 6, 40)) + 0.2 * (np.arange(40) > 25), 0, 1)
TINY = ("--hidden", "16,16", "--steps", "12", "--checkpoints", "3")
LAB_KEYS = {"train_samples", "test_samples", "lr", "eigenvalues", "frequency", "residual0",
            "steps", "bands", "kernel_drift", "deviation", "psnr_train", "psnr_test",
            "psnr_test_linearised", "network", "linearised"}


@pytest.fixture(scope="module")
def signal_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "signal.npy"
    np.save(path, SIGNAL)
    return str(path)


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if not k.endswith("_s")}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def engine_payload(data, spec, **options) -> dict:
    """What engine.lab gives for one network, called directly."""
    from engine import coordinate as co, lab

    study = lab.train_study(co.build(spec, 0), data, **options)
    done = list(study)
    return lab.payload(study.initial, done)


# --- the JSON is the engine's -------------------------------------------------------------------

def test_1d_json_has_the_keys_and_the_engines_numbers(ntk_json, signal_file):
    from engine import coordinate as co

    out = ntk_json("train", "--signal", signal_file, *TINY)
    assert out["dimensions"] == 1 and out["shape"] == [40] and out["interrupted"] is False
    assert (out["train_samples"], out["test_samples"]) == (20, 20)
    scaled = (SIGNAL - SIGNAL.min()) / (SIGNAL.max() - SIGNAL.min())  # a file is min–max scaled
    np.testing.assert_allclose(out["target"], scaled, rtol=1e-15)
    (result,) = out["results"]
    assert LAB_KEYS <= set(result) and result["label"] == "relu"
    assert {"first", "last", "measured", "predicted"} <= set(result["bands"][0])
    assert result["steps"] == [0, 1, 3, 12] and result["finished"]
    assert (result["hidden"], result["activation"], result["param"]) == ([16, 16], "relu", "ntk")
    expected = engine_payload(co.signal_data(scaled), co.CoordinateSpec(1, (16, 16)), steps=12,
                              checkpoints=3)
    del expected["target"], expected["shape"]
    assert without_timings({k: result[k] for k in expected}) == without_timings(expected)


# --- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (("--side", "16", "--row", "3"), ("--row", "--side", "one of them")),
    (("--signal", "x.npy", "--image", "camera"), ("--signal", "drop --image")),
    (("--init", "siren", "--act", "relu"), ("siren", "drop --act")),
    (("--init", "siren", "--param", "ntk", "--sigma-w", "2"), ("drop --param, --sigma-w",)),
    (("--omega0", "30",), ("--omega0", "--init siren")),
    (("--fourier-scale", "5",), ("--fourier-scale", "--encoding fourier")),
    (("--act", "relu", "--act", "relu"), ("--act lists relu twice",)),
    (("--encoding", "wavelet",), ("--encoding must be one of none, fourier",)),
    (("--steps", "0",), ("--steps must be in [1, 100000000], got 0",)),
    (("--side", "2",), ("--side must be in [4, 4096], got 2",)),
    (("--image", "no-such-picture",), ("no such file or bundled image",)),
    (("--row", "9999",), ("row 9999 is out of range",)),
    (("--act", "heaviside",), ("heaviside has zero derivative", "--train last")),
    (("--act", "relux",), ("unknown activation 'relux'",)),
])
def test_bad_requests_are_one_line_errors(ntk, args, needles):
    assert_one_line_error(ntk("train", *args), *needles)


def test_a_step_beyond_the_stability_edge_is_refused(ntk, signal_file):
    assert_one_line_error(ntk("train", "--signal", signal_file, *TINY, "--lr", "1e6"),
                          "stability edge")


def test_memory_far_beyond_the_machine_is_refused_before_the_picture_is_loaded(ntk, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the picture was loaded before the memory check")

    monkeypatch.setattr(images, "load_image", never)
    r = ntk("train", "--image", "camera", "--side", "4096")
    assert_one_line_error(r, "would need", "TiB", "an image of up to")
    # 1-D: a network far too wide for the machine
    assert_one_line_error(ntk("train", "--hidden", "1000000,1000000"), "would need",
                          "not even one training point fits")


# --- stopping early keeps what is done ------------------------------------------------------------

def test_ctrl_c_keeps_the_finished_checkpoints(ntk, signal_file, ctrl_c_on_call):
    import engine.lab

    # psnr runs four times a checkpoint (network and linearised, training and held out): the 9th
    # call is checkpoint 2's first
    ctrl_c_on_call(engine.lab, "psnr", 9)
    r = ntk("train", "--signal", signal_file, *TINY, "--json")
    assert r.code == 130 and "interrupted" in r.err
    out = r.json()
    assert out["interrupted"] is True
    (result,) = out["results"]
    assert result["steps"] == [0, 1] and result["finished"] is False
    assert all(len(b["measured"]) == 2 for b in result["bands"])


class Recorder(Progress):
    """The dashboard's side of a run: keeps every partial Report and raises Cancelled (as the
    dashboard's Progress does once the user cancels) after `stop_after` of them."""

    def __init__(self, stop_after: int | None = None):
        self.partials, self.stop_after, self.polls_after_stop = [], stop_after, 0

    def step(self, n: int = 1, partial=None) -> None:
        if self.stop_after is not None and len(self.partials) >= self.stop_after:
            self.polls_after_stop += 1
            raise Cancelled()
        if partial is not None:
            self.partials.append(partial)


def kinds(report) -> list[str]:
    return [type(b).__name__ for b in report.blocks]


def test_partial_reports_grow_in_the_final_shape_and_cancel_stops_between_chunks(signal_file):
    from engine import lab
    from ntktui.report import compute

    values = dict(signal=signal_file, hidden="16,16", steps=12, checkpoints=3)
    progress = Recorder()
    final = compute("train", progress, **values)
    assert [p.payload["results"][0]["steps"] for p in progress.partials] == [
        [0], [0, 1], [0, 1, 3], [0, 1, 3, 12]]  # a partial Report after every checkpoint
    for partial in progress.partials:
        assert kinds(partial) == kinds(final) and partial.complete is False

    # Cancelled after three checkpoints: the study stops at once (the next poll between chunks of
    # GD steps, not after training), and the last partial holds the three.
    trained = []
    chunk = lab.Study.run

    def counting(self):
        for c in chunk(self):
            trained.append(c.step)
            yield c

    stopper = Recorder(stop_after=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lab.Study, "run", counting)
        with pytest.raises(Cancelled):
            compute("train", stopper, **values)
    assert trained == [0, 1, 3] and stopper.polls_after_stop == 1
    assert stopper.partials[-1].payload["results"][0]["steps"] == [0, 1, 3]


def test_views_redraw_bands_and_steps_without_training_again(signal_file):
    from ntktui.render import Plot
    from ntktui.report import compute

    report = compute("train", signal=signal_file, hidden="16,16", steps=12, checkpoints=3)
    bands = report.blocks[1]
    assert isinstance(bands, Plot) and "bands" in bands.title
    moved = report.adjust(band=1, step=2)
    assert "(bands 1–" in moved.blocks[1].title and moved.payload == report.payload
    assert "at step 1" in moved.blocks[2].title  # the latest checkpoint at or before step 2
    table = [b for b in moved.blocks if type(b).__name__ == "Table"][0]
    assert table.columns[1] == "E (step 1)"


def test_defaults_agree_with_the_loaders():
    assert train.DEFAULT_ROW == signals.DEFAULT_ROW
    assert train.DEFAULT_SIDE == images.DEFAULT_SIDE
    assert train.STUDY.param("side").lo == images.MIN_SIDE


# --- the presets' claims, on their quick sizes ----------------------------------------------------

def run_quick(name: str, progress: Progress | None = None, **narrower):
    """The preset's Report on its quick sizes (with fewer networks where `narrower` says)."""
    p = presets.load(name)
    return p.study.analyse(progress or Progress(), **p.arguments(quick=True, overrides=narrower))


def by_label(payload) -> dict:
    return {r["label"]: r for r in payload["results"]}


def above_floor(result) -> int:
    return sum(v is not None for v in result["eigenvalues"])


def test_deep_1d_relu_has_a_power_law_spectrum_tanh_a_cliff():
    r = by_label(run_quick("seed003-deep-1d", act=["relu", "tanh"]).payload)
    assert above_floor(r["relu"]) > 3 * above_floor(r["tanh"])


def test_lazy_limit_drift_falls_as_the_width_grows_one_result_and_partials_each():
    from ntktui.render import Plot

    progress = Recorder()
    report = run_quick("seed003-lazy-limit", progress, widths=[512, 32])
    results = report.payload["results"]
    assert [r["label"] for r in results] == ["w=512", "w=32"]
    assert [r["hidden"] for r in results] == [[512, 512], [32, 32]]
    # the claim
    assert results[1]["kernel_drift"][-1] > 1.5 * results[0]["kernel_drift"][-1]
    # deviation and drift against width, from the results
    width_plots = {b.title.split(" against")[0]: b for b in report.blocks
                   if isinstance(b, Plot) and "against width" in b.title}
    (drift,) = width_plots["Kernel drift at the last step"].series
    assert list(drift.x) == [32, 512]
    assert list(drift.y) == [r["kernel_drift"][-1] for r in results[::-1]]
    (deviation,) = width_plots["Deviation (decades)"].series
    assert list(deviation.y) == [r["deviation"] for r in results[::-1]]
    # the panels grow network by network in the final Report's shape
    grown = [[len(r["steps"]) for r in p.payload["results"]] for p in progress.partials]
    assert grown == [[1], [2], [3], [4], [4, 1], [4, 2], [4, 3], [4, 4]]
    assert all(kinds(p) == kinds(report) for p in progress.partials)


def test_fourier_features_sigma_10_fits_training_pixels_not_held_out_ones():
    r = by_label(run_quick("seed003-fourier-2d", encoding=["fourier"]).payload)
    gap = {k: v["psnr_train"][-1] - v["psnr_test"][-1] for k, v in r.items()}
    assert gap["Fourier σ=10"] > 3 > 1.5 > gap["Fourier σ=1"]
    assert r["Fourier σ=1"]["psnr_test"][-1] > r["Fourier σ=10"]["psnr_test"][-1] + 3


def test_siren_on_a_photograph_leaves_its_linearisation(ntk, tmp_path, monkeypatch):
    """The 2-D contract and the SIREN claim from one run of the preset: its JSON and its text."""
    import json

    monkeypatch.setenv("NO_COLOR", "1")
    r = ntk("run", "seed000-siren-2d", "--quick", "--out", str(tmp_path), "--plot-width", "100")
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "result.json").read_text())
    assert out["dimensions"] == 2 and out["shape"] == [32, 32] and out["signal"] == "camera 32 × 32"
    assert (out["train_samples"], out["test_samples"]) == (256, 768)
    np.testing.assert_allclose(out["target"], images.load_image("camera", 32).values)
    (result,) = out["results"]
    assert LAB_KEYS <= set(result) and len(result["eigenvalues"]) == 256
    assert (result["init"], result["activation"], result["omega0"]) == ("siren", "sin", 30.0)
    assert np.asarray(result["network"]).shape == (32, 32) == np.asarray(result["linearised"]).shape
    text = (tmp_path / "plot.txt").read_text()
    assert "camera 32 × 32: target, network, linearised" in text
    assert "radial DCT frequency" in text
    # the claim
    assert result["kernel_drift"][-1] > 1  # the kernel changed by more than its own size
    assert result["psnr_test"][-1] > result["psnr_test_linearised"][-1] + 1
