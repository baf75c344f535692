"""Train a coordinate network by gradient descent and compare it, checkpoint by checkpoint, with
its NTK prediction: which eigen-components of the empirical NTK K₀ it has learned, band by band,
and how far real training has left its linearisation (docs/lab.md).

Data: a row of a photograph (default: row 100 of scikit-image's camera, 512 samples, as
`reconstruct`), --signal FILE, --image PATH|NAME --row R (1-D), or --image PATH|NAME [--side S]
for the whole picture resized to S × S (2-D; --side alone takes the camera; NAME is one of
scikit-image's bundled photographs). Training uses every other sample (for a picture, the pixels
with even row and column); the rest are held out. Full-batch GD on ½‖f − y‖² with η = 1/λ_max(K₀)
unless --lr. Linearised, component i of the residual decays as (1 − ηλ_i)^t: seed 003's GD mask.

Shown: band energies against steps (measured, and predicted), the residual left per component,
PSNR of the network and of its linearisation (held out and training), the kernel drift
‖K_t − K₀‖/‖K₀‖, the eigenvalues and their eigenvectors' frequencies, and the reconstruction.
Several networks in one run: --act repeated, --widths W1,W2,… (every hidden layer W wide: the lazy
limit, with deviation and drift against width), --encoding none,fourier with --fourier-scale
σ1,σ2,…; the JSON has one entry in "results" for each. Ctrl-C keeps the finished checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from ntktui.errors import UserError
from ntktui.params import FLOAT, FLOATS, INT, INTS, NAMES, TEXT, Param
from ntktui.studies import Study, shared

INITS = ("default", "siren")
ENCODINGS = ("none", "fourier")
TRAIN_MODES = ("all", "last")
DEFAULT_HIDDEN = "256,256,256"
DEFAULT_ROW = 100  # signals.DEFAULT_ROW: the reconstruction's row (checked in the tests)
DEFAULT_SIDE = 64  # images.DEFAULT_SIDE
# Plots with two series a network (measured and predicted) show this many networks at once; the
# tables, the JSON and the one-series plots have them all.
SHOWN = 4
# The 2-D reconstruction is drawn on the renderer's diverging scale centred on mid-grey.
MID_GREY = 0.5


# ---------------------------------------------------------------------------------------------
# The analysis


def analyse(progress, *, act, hidden, widths, param, sigma_w, sigma_b, scale, init, omega0,
            encoding, fourier_scale, fourier_features, train, steps, lr, checkpoints, bands,
            seed, dtype, signal, image, row, side):
    from engine import backend, coordinate as co, lab

    values = dict(locals())
    two_d, samples, train_samples, nets = plan(values)
    side = side or DEFAULT_SIDE
    loaded = None if two_d else load_signal(signal, image, row)
    if two_d:
        from ntktui import images

        loaded = images.load_image(image, side)
        data = co.image_data(loaded.values)
    else:
        data = co.signal_data(loaded.values)
    setting = {"steps": steps, "checkpoints": checkpoints, "lr": lr, "train": train,
               "bands": bands, "dtype": dtype, "seed": seed,
               "device": backend.default_device_name()}
    setup = Setup(loaded.description, data, setting, len(nets), by_width=len(widths or ()) > 1)

    runs: list[Run] = []
    poll = lambda: progress.step(0) or False  # noqa: E731 - raises Cancelled in the dashboard
    for k, (label, spec) in enumerate(nets, 1):
        progress.begin(f"{label}: K₀ and compiling ({k}/{len(nets)})" if len(nets) > 1
                       else "K₀ and compiling", 1)
        study = lab.train_study(co.build(spec, seed), data, steps=steps, lr=lr,
                                checkpoints=checkpoints, bands=bands, train=train, dtype=dtype,
                                cancelled=poll)
        run = Run(label, spec, study.initial, study.done)
        runs.append(run)
        progress.begin(f"training {label} ({k}/{len(nets)})" if len(nets) > 1 else "training",
                       len(study.initial.steps))
        for _ in study:
            progress.step(partial=train_report(setup, runs, complete=False))
        del study  # K₀, its eigenvectors and the parameters: what the report keeps is in `run`
    return train_report(setup, runs, complete=True)


def plan(values: dict):
    """(2-D?, samples, training samples, networks) from the values alone: a picture's size from
    --side, a signal's from its file's header or the picture's width, nothing loaded."""
    from ntktui import images, signals

    two_d = is_2d(values["signal"], values["image"], values["row"], values["side"])
    if two_d:
        side = values["side"] or DEFAULT_SIDE
        samples, train_samples = side * side, ((side + 1) // 2) ** 2
    else:
        image = values["image"]
        if values["signal"] is not None or (image is not None and Path(image).is_file()):
            samples = signals.length(image, values["signal"])
        else:  # a bundled photograph (small: read it)
            samples = images.read_source(image)[0].shape[1]
        train_samples = (samples + 1) // 2
    nets = networks(**{k: values[k] for k in NETWORK_KEYS}, inputs=2 if two_d else 1,
                    train_samples=train_samples)
    return two_d, samples, train_samples, nets


NETWORK_KEYS = ("act", "hidden", "widths", "param", "sigma_w", "sigma_b", "scale", "init",
                "omega0", "encoding", "fourier_scale", "fourier_features")


def memory(values: dict) -> None:
    """Every network's kernel, eigenvectors and training, before any picture is loaded."""
    from engine import lab

    _, samples, train_samples, nets = plan(values)
    shared.data_memory(samples, 2)
    for _, spec in nets:
        if values["train"] == "all":
            spec.mlp.act.require_derivative("GD cannot train its hidden layers: use --train last "
                                            "or another activation")
        lab.check_memory(spec.mlp, train_samples, samples, spec.inputs, values["train"],
                         values["dtype"])


def is_2d(signal, image, row, side) -> bool:
    """A whole picture (2-D) unless a signal or a row is asked for; --side alone is the camera."""
    return signal is None and row is None and (image is not None or side is not None)


def load_signal(signal, image, row):
    """The 1-D data: --signal FILE, or row R (default 100) of a picture file or bundled photograph
    (default camera)."""
    from ntktui import images, signals

    if signal is not None:
        return signals.from_file(signal)
    raw, name = images.read_source(image)
    return signals.image_row(raw, DEFAULT_ROW if row is None else row, name)


def networks(*, act, hidden, widths, param, sigma_w, sigma_b, scale, init, omega0, encoding,
             fourier_scale, fourier_features, inputs, train_samples):
    """(label, CoordinateSpec) for every network asked for: activations × widths × encodings.
    Values left None take the engine's defaults (relu, ntk, σ_w = σ_b = 1; SIREN's own)."""
    from engine.coordinate import CoordinateSpec
    from ntktui.params import widths as read_widths

    base = read_widths(hidden, train_samples)
    hiddens = [(w,) * len(base) for w in widths] if widths else [tuple(base)]
    encodings = []
    for enc in encoding:
        encodings += ([("fourier", s) for s in (fourier_scale or (None,))] if enc == "fourier"
                      else [(enc, None)])
    acts = act or (None,)
    given = {"param": param, "sigma_w": sigma_w, "sigma_b": sigma_b, "scale": scale,
             "omega0": omega0, "fourier_features": fourier_features}
    out = []
    for a in acts:
        for h in hiddens:
            for enc, s in encodings:
                chosen = {k: v for k, v in {**given, "activation": a, "fourier_scale": s}.items()
                          if v is not None}
                spec = CoordinateSpec(inputs, h, init=init, encoding=enc, **chosen)
                parts = []
                if len(acts) > 1 or (len(hiddens) == 1 and len(encodings) == 1):
                    parts.append(network_name(spec, len(encodings) == 1))
                if len(hiddens) > 1:
                    parts.append(f"w={h[0]}")
                if len(encodings) > 1:
                    parts.append(encoding_name(spec))
                out.append((" ".join(parts), spec))
    return out


def network_name(spec, with_encoding: bool) -> str:
    name = f"SIREN ω₀={spec.omega0:g}" if spec.init == "siren" else spec.activation
    return f"{name} + {encoding_name(spec)}" if with_encoding and spec.encoding != "none" else name


def encoding_name(spec) -> str:
    return f"Fourier σ={spec.fourier_scale:g}" if spec.encoding == "fourier" else "plain"


# ---------------------------------------------------------------------------------------------
# What a report is made of


@dataclass(frozen=True)
class Setup:
    description: str  # "camera row 100 (512 samples)", "camera 64 × 64"
    data: object  # engine.coordinate.Data
    setting: dict
    networks: int  # how many the run trains (the report's shape does not change as they finish)
    by_width: bool = False  # several widths: deviation and drift against width are plotted


@dataclass(frozen=True)
class Run:
    """One network's study: what it knew before training and its checkpoints so far (the
    Study's own list, which grows while it trains)."""

    label: str
    spec: object  # engine.coordinate.CoordinateSpec
    initial: object  # engine.lab.Initial
    checkpoints: list

    def frozen(self) -> "Run":
        return replace(self, checkpoints=list(self.checkpoints))


@dataclass(frozen=True)
class View:
    """What the detail blocks show; Report.adjust(band=…, step=…, network=…) changes it at once.
    band: the first band of the band-energy plot (1-based; None: the first band not learned in
    one step); step: the checkpoint shown by the component plot, the band table and the
    reconstruction (None: the last; otherwise the latest checkpoint at or before it); network:
    the first of the networks the two-series plots show (1-based)."""

    band: int | None = None
    step: int | None = None
    network: int = 1


def train_report(setup: Setup, runs: list[Run], complete: bool, view: View = View()):
    """The Report of the checkpoints finished so far; `adjust` redraws it for another View."""
    from ntktui.report import Report

    runs = [r.frozen() for r in runs if r.checkpoints]
    payload = train_payload(setup, runs, complete)
    steps = [c.step for c in runs[0].checkpoints] if runs else [0]

    def adjust(**changes):
        if "checkpoint" in changes:  # the dashboard steps through checkpoints by their index
            k = int(changes.pop("checkpoint"))
            changes["step"] = steps[max(1, min(k, len(steps))) - 1]
        return train_report(setup, runs, complete, replace(view, **{k: int(v) for k, v in
                                                                   changes.items()}))

    return Report(payload, train_blocks(setup, runs, view), complete=complete, adjust=adjust,
                  controls=view_controls(setup, runs, view, steps))


def view_controls(setup: Setup, runs: list[Run], view: View, steps: list[int]):
    """The views the dashboard's keys move through: the band the band plot starts at, the
    checkpoint the detail blocks show, and the first network the two-series plots show."""
    from ntktui.report import Control

    if not runs:
        return ()
    bands = len(runs[0].initial.bands)
    band = view.band if view.band is not None else auto_band(runs[0], setup.networks > 1)
    shown = shown_checkpoint(runs[0], view.step).step
    checkpoint = steps.index(shown) + 1
    controls = [Control("band", "band", band, 1, bands, 1.0, integer=True, view=True),
                Control("checkpoint", f"checkpoint (step {shown:,})", checkpoint, 1, len(steps),
                        1.0, integer=True, view=True)]
    if setup.networks > SHOWN:
        controls.append(Control("network", "first network", view.network, 1,
                                setup.networks - SHOWN + 1, 1.0, integer=True, view=True))
    return tuple(controls)


def train_payload(setup: Setup, runs: list[Run], complete: bool) -> dict:
    from engine import lab

    data = setup.data
    results = []
    for r in runs:
        result = lab.payload(r.initial, r.checkpoints)
        del result["target"], result["shape"]  # the data's, once, at the top
        results.append({"label": r.label, **network_json(r.spec), **result})
    return {
        "signal": setup.description,
        "dimensions": data.inputs,
        "shape": list(data.shape),
        "samples": int(data.y.size),
        "train_samples": data.train_samples,
        "test_samples": data.test_samples,
        "setting": setup.setting,
        "target": data.y.reshape(data.shape).tolist(),
        "results": results,
    }


def network_json(spec) -> dict:
    out = {"description": spec.describe(), "init": spec.init, "activation": spec.activation,
           "hidden": list(spec.hidden), "param": spec.param, "scale": spec.scale,
           "sigma_w": spec.sigma_w, "sigma_b": spec.sigma_b, "encoding": spec.encoding}
    if spec.init == "siren":
        out["omega0"] = spec.omega0
    if spec.encoding == "fourier":
        out.update(fourier_scale=spec.fourier_scale, fourier_features=spec.fourier_features)
    return out


# ---------------------------------------------------------------------------------------------
# Blocks. Their kinds and order depend only on the request (not on how far the run is), so the
# dashboard updates its panels in place as checkpoints arrive.


def train_blocks(setup: Setup, runs: list[Run], view: View) -> list:
    from ntktui.report import Note

    first = max(1, min(view.network, max(setup.networks - SHOWN + 1, 1)))
    shown = runs[first - 1:first - 1 + SHOWN]
    blocks = [Note(header(setup, runs))]
    blocks += [band_plot(shown, view, setup.networks), component_plot(shown, view),
               psnr_plot(shown), drift_plot(runs), eigenvalue_plot(runs, view),
               frequency_plot(shown)]
    if setup.by_width:
        blocks += [width_plot(runs, "deviation"), width_plot(runs, "drift")]
    blocks.append(reconstruction(setup, shown, view))
    blocks += [band_table(shown, view), summary_table(runs), Note(findings(runs))]
    return blocks


def predicted(label: str, x, y):
    """A predicted curve. The renderer has no dashed lines yet: the label says it (when Series
    gains a dashed style, set it here)."""
    from ntktui.render import Series

    return Series(f"{label} (predicted)", x, y)


def shown_checkpoint(run: Run, step: int | None):
    """The latest checkpoint at or before `step` (the last one when None)."""
    if step is None:
        return run.checkpoints[-1]
    earlier = [c for c in run.checkpoints if c.step <= step]
    return earlier[-1] if earlier else run.checkpoints[0]


def auto_band(run: Run, several: bool) -> int:
    """The band the plot starts at: alone, the first band whose predicted energy at the last step
    is above the deviation floor (the bands still being learned; below it, as for the top
    component at η = 1/λ₁, the prediction is 0 to round-off and has no logarithm); with several
    networks, the highest of those the first network is predicted to learn at least halfway."""
    import numpy as np

    from engine import lab

    ini = run.initial
    c = lab.decay(ini.eigenvalues_clipped, ini.lr, ini.steps[-1]) * ini.residual0
    energy = lab.band_energies(c, ini.residual0, ini.bands)
    left = energy > lab.DEVIATION_FLOOR
    half = np.flatnonzero(left & (energy <= 0.5))
    if several and half.size:
        return int(half[-1]) + 1
    return int(np.flatnonzero(left)[0]) + 1 if left.any() else 1


def band_name(band) -> str:
    a, b = band
    return str(a) if a == b else f"{a}–{b}"


def band_plot(shown: list[Run], view: View, networks: int):
    """Band energies against step (log–log; step 0, where every energy is 1, is off the axis):
    alone, four consecutive bands; with several networks, one band for each."""
    from ntktui.render import Plot, Series

    series, title = [], "Band energy E_b against step"
    if shown:
        nb = len(shown[0].initial.bands)
        several = networks > 1
        first = view.band if view.band is not None else auto_band(shown[0], several)
        first = max(1, min(first, nb if several else max(nb - 3, 1)))
        picked = range(first - 1, first if several else min(first + 3, nb))
        for r in shown:
            steps = [c.step for c in r.checkpoints]
            for k in picked:
                name = f"band {band_name(r.initial.bands[k])}"
                label = f"{r.label} {name}" if several else name
                series.append(Series(label, steps, [c.measured[k] for c in r.checkpoints]))
                series.append(predicted(label, steps, [c.predicted[k] for c in r.checkpoints]))
        title += (f", band {band_name(shown[0].initial.bands[first - 1])}" if several
                  else f" (bands {first}–{picked[-1] + 1} of {nb})")
    return Plot(title, "step", "E_b (share of its energy left)", series,
                log_x=True, log_y=True)


def component_plot(shown: list[Run], view: View):
    """|c_{t,i}/c_{0,i}| against i at the shown step: measured (points) against (1 − ηλ_i)^t.
    Components below the round-off floor are left out (their eigenvectors are not determined)."""
    import numpy as np

    from ntktui.render import Plot, Series

    series, steps = [], set()
    for r in shown:
        c = shown_checkpoint(r, view.step)
        steps.add(c.step)
        keep = r.initial.resolved
        i = np.arange(1, keep.size + 1)[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.abs(c.residual / r.initial.residual0)[keep]
            pred = np.abs(c.predicted_residual / r.initial.residual0)[keep]
        name = r.label if len(shown) > 1 else "measured"
        series.append(Series(name, i, left, scatter=True))
        series.append(predicted("(1 − ηλ_i)^t" if len(shown) == 1 else r.label, i, pred))
    at = f"step {steps.pop()}" if len(steps) == 1 else "the shown steps"
    return Plot(f"Residual left per component at {at}, |c_t,i / c_0,i|",
                "component i (eigenvalues descending)", "|c_t / c_0|", series, log_x=True,
                log_y=True)


def psnr_plot(shown: list[Run]):
    from ntktui.render import Plot, Series

    series = []
    for r in shown:
        steps = [c.step for c in r.checkpoints]
        col = lambda name: [getattr(c, name) for c in r.checkpoints]  # noqa: E731
        if len(shown) == 1:
            series += [Series("network, held out", steps, col("psnr_test")),
                       predicted("linearised, held out", steps, col("psnr_test_linearised")),
                       Series("network, training", steps, col("psnr_train")),
                       predicted("linearised, training", steps, col("psnr_train_linearised"))]
        else:
            series += [Series(r.label, steps, col("psnr_test")),
                       predicted(f"{r.label} linearised", steps, col("psnr_test_linearised"))]
    title = "PSNR" if len(shown) == 1 else "Held-out PSNR"
    return Plot(title + " against step: network and linearisation", "step", "PSNR (dB)",
                series, log_x=True)


def drift_plot(runs: list[Run]):
    from ntktui.render import Plot, Series

    series = [Series(r.label, [c.step for c in r.checkpoints], [c.drift for c in r.checkpoints])
              for r in runs]
    return Plot("Kernel drift ‖K_t − K₀‖ / ‖K₀‖ against step", "step", "drift", series,
                log_x=True, log_y=True)


def eigenvalue_plot(runs: list[Run], view: View):
    """λ_i/λ_1 against i, with the line above which components are learned by the shown step
    (ηλt = 1) and the round-off floor where some eigenvalues are below it."""
    import numpy as np

    from ntktui.render import Plot, Series

    series, lines = [], {}
    for r in runs:
        ini = r.initial
        keep = ini.resolved
        i = np.arange(1, keep.size + 1)[keep]
        series.append(Series(r.label, i, ini.eigenvalues[keep] / ini.lambda_max))
        t = shown_checkpoint(r, view.step).step
        if t > 0:
            level = 1.0 / (ini.lr * ini.lambda_max * t)
            lines.setdefault(float(f"{level:.3g}"), f"learned by step {t} (ηλt = 1)")
    hlines = [(v, label) for v, label in lines.items()]
    if any((~r.initial.resolved).any() for r in runs):
        hlines.append((min(r.initial.floor / r.initial.lambda_max for r in runs),
                       "round-off floor"))
    return Plot("Eigenvalues of K₀ (above the line: learned by step t)",
                "i", "λ_i/λ_1", series, log_x=True, log_y=True, hlines=hlines)


def frequency_plot(shown: list[Run]):
    """Each eigenvalue against its eigenvector's frequency: spectral bias is λ falling as the
    frequency rises."""
    from ntktui.render import Plot, Series

    series = []
    for r in shown:
        ini = r.initial
        keep = ini.resolved
        series.append(Series(r.label, ini.frequency[keep], ini.eigenvalues[keep] / ini.lambda_max,
                             scatter=True))
    two_d = bool(shown) and len(shown[0].initial.shape) == 2
    what = "radial DCT frequency" if two_d else "DCT frequency"
    return Plot(f"Eigenvalue against its eigenvector's {what}",
                "√(k_x² + k_y²)" if two_d else "k", "λ_i/λ_1", series, log_y=True)


def width_plot(runs: list[Run], what: str):
    """Deviation (over every checkpoint) or the last drift against the hidden width, one series
    for each activation or encoding: the lazy limit."""
    from engine import lab
    from ntktui.render import Plot, Series

    groups: dict[str, list] = {}
    for r in runs:
        group = " ".join(p for p in r.label.split() if not p.startswith("w=")) or what
        value = (lab.summarise(r.checkpoints).deviation if what == "deviation"
                 else r.checkpoints[-1].drift)
        groups.setdefault(group, []).append((r.spec.hidden[0], math.nan if value is None else value))
    series = [Series(g, [w for w, _ in sorted(pts)], [v for _, v in sorted(pts)])
              for g, pts in groups.items()]
    title = ("Deviation (decades) against width" if what == "deviation"
             else "Kernel drift at the last step against width")
    return Plot(title, "hidden width",
                what, series, log_x=True, log_y=True)


def reconstruction(setup: Setup, shown: list[Run], view: View):
    """1-D: the signal, the network and its linearisation at the shown step. 2-D: the target,
    the network and the linearisation as images (clipped to [0, 1] and drawn on the renderer's
    diverging scale about mid-grey: dark is blue, light is red)."""
    import numpy as np

    from ntktui.render import ImageGrid, Plot, Series

    data = setup.data
    if data.inputs == 2:
        target = data.y.reshape(data.shape)
        shade = lambda img: np.clip(img, 0.0, 1.0) - MID_GREY  # noqa: E731
        rows = []
        for r in shown:
            c = shown_checkpoint(r, view.step)
            rows.append((f"{r.label} at step {c.step}",
                         [shade(target), shade(c.network), shade(c.linearised)]))
        return ImageGrid(f"{setup.description}: target, network, linearised (dark blue, light "
                         "red)", rows, panel_titles=("target", "network", "linearised"))
    x = np.arange(data.y.size)
    series = [Series("signal", x, data.y)]
    for r in shown:
        c = shown_checkpoint(r, view.step)
        name = r.label if len(shown) > 1 else "network"
        series += [Series(f"{name} at step {c.step}", x, c.network),
                   predicted(f"{name} linearised", x, c.linearised)]
    return Plot(f"{setup.description} and its reconstruction", "sample", "value", series)


def band_table(shown: list[Run], view: View):
    from ntktui.report import Table

    columns, rows = ["band"], []
    if shown:
        checkpoints = [shown_checkpoint(r, view.step) for r in shown]
        for r, c in zip(shown, checkpoints):
            name = "" if len(shown) == 1 else f"{r.label} "
            columns += [f"{name}E (step {c.step})", f"{name}Ê predicted"]
        for k, band in enumerate(shown[0].initial.bands):
            row = [band_name(band)]
            for c in checkpoints:
                row += [c.measured[k], c.predicted[k]]
            rows.append(row)
    return Table("Band energies: measured E_b against predicted Ê_b", columns, rows)


def summary_table(runs: list[Run]):
    """One column a network (a row a quantity), so that many networks still fit the width."""
    import numpy as np

    from engine import lab
    from ntktui.report import Table

    columns = []
    for r in runs:
        ini, last = r.initial, r.checkpoints[-1]
        learned = int(np.sum(ini.resolved & (ini.learn_steps <= last.step)))
        columns.append((ini.lambda_max, int(ini.resolved.sum()), learned, ini.lr, last.step,
                        last.psnr_train, last.psnr_test, last.psnr_test_linearised, last.drift,
                        drift_bound(r)[1], lab.summarise(r.checkpoints).deviation,
                        sum(c.train_s for c in r.checkpoints)))
    names = ("λ_max(K₀)", "components above the floor", "learned by step t (T_i ≤ t)", "η",
             "step t", "PSNR training (dB)", "PSNR held out (dB)", "linearised, held out (dB)",
             "kernel drift", "eigenvalues above the drift's reach", "deviation (decades)",
             "training time (s)")
    rows = [(name, *(col[k] for col in columns)) for k, name in enumerate(names)]
    return Table("Networks: the NTK, what GD learned, and how far it is from the prediction",
                 ["", *(r.label for r in runs)], rows)


def header(setup: Setup, runs: list[Run]) -> str:
    data, st = setup.data, setup.setting
    lr = "η = 1/λ_max(K₀)" if st["lr"] is None else f"η = {st['lr']:g}"
    what = "the last layer" if st["train"] == "last" else "every layer"
    grid = "pixels with even row and column" if data.inputs == 2 else "even samples"
    return (f"{setup.description}: training on {data.train_samples} {grid}, "
            f"{data.test_samples} held out; full-batch GD on {what}, {lr}, {st['steps']} steps, "
            f"{st['dtype']} on {st['device']}, seed {st['seed']}")


def drift_bound(run: Run) -> tuple[float, int]:
    """(b, k): by Weyl's inequality |λ_i(K_t) − λ_i(K₀)| ≤ ‖K_t − K₀‖₂ ≤ drift·‖K₀‖_F, with
    ‖K₀‖_F² = Σ λ_i², so no eigenvalue has moved by more than b = max drift·‖K₀‖_F; k counts the
    resolved eigenvalues above b, the components whose rates the drift cannot have overturned."""
    import numpy as np

    ini = run.initial
    b = max(c.drift for c in run.checkpoints) * float(np.linalg.norm(ini.eigenvalues_clipped))
    return b, int(np.sum(ini.resolved & (ini.eigenvalues > b)))


def findings(runs: list[Run]) -> str:
    """What each network learned, and how far training is from its prediction and why."""
    import numpy as np

    from engine import lab

    lines = []
    for r in runs:
        ini, last = r.initial, r.checkpoints[-1]
        learned = int(np.sum(ini.resolved & (ini.learn_steps <= last.step)))
        dev = lab.summarise(r.checkpoints).deviation
        bound, steady = drift_bound(r)
        gap = last.psnr_test - last.psnr_test_linearised
        lines.append(
            f"{r.label}: by step {last.step} GD is predicted to have learned {learned} of "
            f"{int(ini.resolved.sum())} components (ηλ_i t ≥ 1). The kernel moved by up to "
            f"{100 * max(c.drift for c in r.checkpoints):.3g} % of ‖K₀‖, so each eigenvalue by at "
            f"most {bound / ini.lambda_max:.2g}·λ₁ (Weyl), more than every eigenvalue"
            + (f" but the first {steady}" if steady else "")
            + ": the rates of the others are not pinned down by K₀. Band energies are "
            + ("not yet compared" if dev is None else f"{dev:.2g} decades from the prediction")
            + f" on average; held out, the network is {gap:+.1f} dB against its linearisation."
            + (" It diverged: its outputs are no longer finite."
               if not np.all(np.isfinite(last.network)) else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Parameters and the combinations that make no sense


def check(values: dict) -> None:
    given = [name for name in values if values[name] is not None]
    flag = lambda name: STUDY.param(name).flag  # noqa: E731

    def refuse(message: str):
        raise UserError(message)

    if "signal" in given:
        for other in ("image", "row", "side"):
            if other in given:
                refuse(f"--signal is a 1-D signal of its own: drop {flag(other)}")
    if "row" in given and "side" in given:
        refuse("--row takes one row of the picture (1-D) and --side the whole picture resized "
               "(2-D): give one of them")
    if values["init"] == "siren":
        fixed = [flag(n) for n in ("act", "param", "sigma_w", "sigma_b", "scale") if n in given]
        if fixed:
            refuse(f"--init siren fixes the activation (sin ω₀t), the parameterisation and the "
                   f"scales: drop {', '.join(fixed)} (its frequency is --omega0)")
    elif "omega0" in given:
        refuse("--omega0 is SIREN's frequency: add --init siren (another activation's frequency "
               "is --scale)")
    if "fourier" not in values["encoding"]:
        extra = [flag(n) for n in ("fourier_scale", "fourier_features") if n in given]
        if extra:
            refuse(f"{' and '.join(extra)} set the Fourier features: add --encoding fourier")
    for name in ("act", "widths", "encoding", "fourier_scale"):
        items = values[name] or ()
        twice = sorted({v for v in items if list(items).count(v) > 1}, key=str)
        if twice:
            refuse(f"{flag(name)} lists {', '.join(map(str, twice))} twice")


STUDY = Study(
    name="train", order=55, help=__doc__, analyse=analyse, check=check, memory=memory,
    params=(
        shared.ACTS.with_(default=None, default_text="relu", help="Activation (repeatable: one "
                          f"network each): {shared.ACT_NAMES}."),
        shared.HIDDEN.with_(default=DEFAULT_HIDDEN, help="Hidden widths, e.g. 256,256,256 (a "
                            "width may be a multiple of the training points N: 2N). Output 1."),
        Param("widths", INTS, None, help="One network per width W, every hidden layer W wide "
              "(the depth from --hidden): the lazy limit, e.g. 32,128,512,2048.", lo=1,
              hi=1_000_000),
        shared.PARAM.with_(default=None, default_text="ntk"),
        shared.SIGMA_W.with_(default=None, default_text="1", hi=100),
        shared.SIGMA_B.with_(default=None, default_text="1", hi=100, help="Bias scale σ_b; 0 "
                             "means no bias (a relu network of one coordinate needs one)."),
        shared.ACT_SCALE.with_(default=None, default_text="1", lo=0, lo_open=True, hi=10_000),
        Param("init", TEXT, "default", choices=INITS, help="default (a registry activation "
              "with --param) or siren: sin(ω₀t) with Sitzmann et al.'s initialisation (it fixes "
              "the activation, the parameterisation and the scales)."),
        Param("omega0", FLOAT, None, help="SIREN's frequency ω₀ (--init siren).", lo=0,
              lo_open=True, hi=10_000, default_text="30"),
        Param("encoding", NAMES, ("none",), help="Input encoding (repeatable: one network each): "
              "none (the coordinates) or fourier (γ(x) = [cos 2πBx, sin 2πBx], B fixed, "
              "B_ij ~ N(0, σ²)).", choices=ENCODINGS, repeat=True),
        Param("fourier_scale", FLOATS, None, help="σ of the Fourier features (a list: one "
              "network each, e.g. 1,10).", lo=0, lo_open=True, hi=10_000, default_text="10"),
        Param("fourier_features", INT, None, help="Fourier features m (the first layer sees 2m "
              "inputs).", lo=1, hi=65_536, default_text="256"),
        Param("train", TEXT, "all", help="all (every layer) or last (only the last layer: the "
              "model is then linear in what it trains and the prediction is exact).",
              choices=TRAIN_MODES),
        Param("steps", INT, 1000, help="GD steps.", flags=("--steps", "-T"), lo=1,
              hi=100_000_000),
        Param("lr", FLOAT, None, help="GD step η (stable below 2/λ_max(K₀)).", lo=0,
              lo_open=True, hi=1e30, default_text="1/λ_max(K₀)"),
        Param("checkpoints", INT, 20, help="Log-spaced checkpoints up to --steps (each measures "
              "the bands, the drift and the PSNRs).", lo=1, hi=1000),
        Param("bands", INT, None, help="Log-spaced bands of eigen-indices.", lo=1, hi=1_000_000,
              default_text="doubling: 1, 2–3, 4–7, …"),
        shared.SEED,
        shared.DTYPE,
        Param("signal", TEXT, None, help="1-D signal file (.npy, or .csv/.txt numbers).",
              unit="file"),
        Param("image", TEXT, None, help="A picture file or a bundled photograph (camera, "
              "astronaut, coffee, …): the whole picture (2-D, --side) or one --row (1-D).",
              default_text="camera"),
        Param("row", INT, None, help="One row of the picture (1-D).", flags=("--row", "-r"), lo=0,
              hi=1_000_000, default_text="100 without --image or --side"),
        Param("side", INT, None, help="The picture resized to S × S (2-D).", lo=4, hi=4096,
              default_text="64 with --image"),
    ),
)
