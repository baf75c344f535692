"""Reconstruct a 1-D signal with a shallow network regularised by GD: PSNR against the number of
active components k, varying the iterations (a) or the activation scale (b), against a DST
baseline (seed 003 Fig. 6)."""

from __future__ import annotations

from ntktui.params import INT, INTS, TEXT, Param
from ntktui.studies import Study, shared

STRATEGY_CHOICES = ("iterations", "scale", "both")
STRATEGY_TITLES = {"iterations": "(a) iterations", "scale": "(b) scale"}
# Relative rise at which a curve counts as tracking the DST baseline (the test of Fig. 6's claims).
TRACKS_DST = 0.5


def analyse(progress, *, act, k, strategy, image, row, signal, width, steps):
    from ntktui import signals

    strategies = ("iterations", "scale") if strategy == "both" else (strategy,)
    sig = signals.load(image=image, row=row, signal=signal)

    from engine import reconstruct as rec
    from engine.activations import get
    from engine.shallow import check_sizes

    activations = [get(a) for a in act]
    split = rec.split_every_other(sig.values)
    n = split.x_train.size
    width = n if width is None else width
    check_sizes(n, width)
    ks = rec.check_ks(list(k), min(width, n))
    dst = rec.dst_psnr(split, ks)

    def report(curves, complete=True):
        return reconstruction_report(rec, sig.description, split, width, ks, dst, curves, steps,
                                     complete)

    # One curve per (strategy, activation), one progress step and one partial Report each.
    curves = []
    progress.begin("reconstructing", len(activations) * len(strategies))
    for strategy_name in strategies:
        for a in activations:
            curves.append(rec.reconstruction_curve(a, split, ks, strategy_name, width, steps))
            progress.step(partial=report(curves, complete=False))
    return report(curves)


def reconstruction_report(rec, description: str, split, width: int, ks, dst, curves, steps: int,
                          complete: bool = True):
    """The Report of the curves computed so far (all of them when `complete`)."""
    from ntktui.report import Report

    payload = {
        "signal": description,
        "samples": int(split.x_all.size),
        "train_samples": int(split.x_train.size),
        "width": int(width),
        "k": ks,
        "dst_psnr": dst,
        "results": [curve_json(c, rec.relative_rise(c.psnr, dst)) for c in curves],
        # the plotted signal, on every sample (training points are every other one)
        "x": split.x_all,
        "values": split.y_all,
    }
    return Report(payload, reconstruction_blocks(payload, curves, split, steps), complete=complete)


def curve_json(c, rise: float) -> dict:
    import math

    return {
        "activation": c.activation,
        "strategy": c.strategy,
        "psnr": c.psnr,
        "steps": [int(t) if math.isfinite(t) else None for t in c.steps],  # whole GD steps
        "scale": c.scales,
        "relative_rise": rise,
        # the reconstruction at the largest k on every sample (what the signal plot draws)
        "reconstruction": c.predictions[-1],
    }


def psnr_plot(payload, strategy: str, results):
    from ntktui.render import Plot, Series

    ks = payload["k"]
    series = [Series(r["activation"], ks, r["psnr"]) for r in results]
    series.append(Series("DST", ks, payload["dst_psnr"]))
    return Plot(title=f"PSNR against k, strategy {STRATEGY_TITLES[strategy]}",
                xlabel="k (active components)", ylabel="PSNR (dB)", series=series,
                log_x=len(ks) > 1 and ks[-1] / ks[0] >= 8)


def strategy_settings(strategy: str, steps: int, width: int) -> str:
    if strategy == "iterations":
        return f"s = M = {width}, η = 1/σ₁², T from k"
    return f"s = k, η = 1/σ₁², T = {steps}"


def psnr_table(payload, strategy: str, results, steps: int):
    from ntktui.report import Table

    ks = payload["k"]
    rows = [(r["activation"], *r["psnr"], r["relative_rise"], r["relative_rise"] >= TRACKS_DST)
            for r in results]
    rows.append(("DST", *payload["dst_psnr"], 1.0, True))
    return Table(f"PSNR (dB), strategy {STRATEGY_TITLES[strategy]}: "
                 f"{strategy_settings(strategy, steps, payload['width'])}",
                 ["activation", *(f"k={k}" for k in ks), "rise/DST", "tracks DST"], rows)


def steps_table(payload, results):
    from ntktui.report import Table

    return Table("GD iterations T used, strategy (a)", ["activation", *(f"k={k}" for k in
                 payload["k"])], [(r["activation"], *r["steps"]) for r in results])


def signal_plot(curves, split, description: str):
    """The signal and the first activation's reconstructions at the largest k."""
    from ntktui.render import Plot, Series

    first = [c for c in curves if c.activation == curves[0].activation]
    series = [Series("signal", split.x_all, split.y_all)]
    series += [Series(f"{c.activation} {c.strategy} k={c.k[-1]}", split.x_all, c.predictions[-1])
               for c in first]
    return Plot(title=f"{description} and its reconstructions", xlabel="x", ylabel="value",
                series=series)


def reconstruction_blocks(payload, curves, split, steps: int) -> list:
    blocks = []
    results = payload["results"]
    for strategy in dict.fromkeys(r["strategy"] for r in results):
        mine = [r for r in results if r["strategy"] == strategy]
        blocks += [psnr_plot(payload, strategy, mine), psnr_table(payload, strategy, mine, steps)]
        if strategy == "iterations":
            blocks.append(steps_table(payload, mine))
    if curves:
        blocks.append(signal_plot(curves, split, payload["signal"]))
    return blocks


def memory(values: dict) -> None:
    """The signal (from its file's header) and the Jacobian of its training half."""
    from ntktui import signals

    n = signals.length(values["image"], values["signal"]) // 2
    shared.data_memory(2 * n, 1)
    shared.shallow_memory(n, values["width"] or n, vectors=True)


STUDY = Study(
    name="reconstruct", order=50, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACTS.with_(default=("tanh", "relu", "sinc", "gaussian")),
        Param("k", INTS, (4, 8, 16, 32, 64, 128), help="Active component counts k: 4,8,16 or a "
              "range 1:30.", flags=("--k", "-k"), lo=1),
        Param("strategy", TEXT, "both", help="iterations (a: s = M, T from k), scale (b: s = k, "
              "T fixed) or both.", choices=STRATEGY_CHOICES),
        Param("image", TEXT, None, help="Image file to take a row from (default: the camera "
              "photograph from scikit-image).", unit="file", default_text="camera"),
        Param("row", INT, None, help="Image row (default 100).", flags=("--row", "-r"), lo=0,
              default_text="100"),
        Param("signal", TEXT, None, help="1-D signal file (.npy, or .csv/.txt numbers).",
              unit="file"),
        Param("width", INT, None, help="Network width M (default: training samples N).",
              flags=("--width", "-m"), lo=1, default_text="N"),
        Param("steps", INT, 50, help="Fixed GD iterations T for the scale strategy.", lo=1),
    ),
)
