"""Regularisers as shrinkage masks on one activation's spectrum: ridge, PCA, gradient descent and
gradient flow (seed 003 §4). Shows the masks m(σ_k), the GD grey zone and the iterations needed
to keep k components."""

from __future__ import annotations

import time

from ntktui.errors import UserError
from ntktui.params import FLOAT, INT, Param
from ntktui.studies import Study, shared

MASKS = ("ridge", "pca", "gd", "flow")


def analyse(progress, *, act, width, samples, scale, eta, steps, lam, k):
    start = time.perf_counter()
    samples = width if samples is None else samples

    from engine.activations import get
    from engine.shallow import spectrum

    import_s = time.perf_counter() - start
    progress.begin("spectrum", 1)
    s = spectrum(get(act), samples, width, scale)
    progress.step()
    if k > s.singular_values.size:
        raise UserError(f"--k {k} exceeds the {s.singular_values.size} singular values of a "
                        f"{samples} × {width} Jacobian")
    return masks_report(s, import_s, eta, steps, lam, k)


def masks_report(s, import_s: float, eta: float, steps: float, lam: float, k: int):
    """The masks for one spectrum; η and T can be changed at once (Report.adjust) since only the
    masks, not the spectrum, depend on them."""
    from ntktui.report import Control, Report

    result = compute(s, eta, steps, lam, k)

    def adjust(**changes):
        values = {"eta": eta, "steps": steps, "lam": lam, "k": k}
        values.update({name: STUDY.param(name).accept(v) for name, v in changes.items()})
        return masks_report(s, import_s, **values)

    controls = (
        Control("eta", "η·σ₁²", eta, 1e-3, 1.99, 1.25),
        Control("steps", "T", steps, 1, 1e9, 2.0, integer=True),
    )
    return Report(payload(s, result, import_s), mask_blocks(s, result), controls=controls,
                  adjust=adjust)


def compute(s, eta_rel: float, steps: float, lam_rel: float, k: int) -> dict:
    """The four masks over σ, the grey zone and the iterations for k; η and λ in absolute units."""
    import numpy as np

    from engine import shrinkage as sh

    sigma = s.singular_values
    s1 = float(sigma[0])
    eta, lam = eta_rel / s1**2, lam_rel * s1**2
    masks = {
        "ridge": sh.ridge_mask(sigma, lam),
        "pca": sh.pca_mask(sigma, k=k),
        "gd": sh.gd_mask(sigma, eta, steps),
        "flow": sh.flow_mask(sigma, eta, steps),
    }
    masks = {name: np.asarray(m) for name, m in masks.items()}
    grey = sh.grey_zone(eta, steps)
    grey.update(normalized_high=grey["sigma_high"] / s1, normalized_low=grey["sigma_low"] / s1)
    iters = float(sh.iterations_for_k(sigma, k, eta)) if s.resolved[k - 1] else None
    return {"eta": eta, "eta_relative": eta_rel, "lambda": lam, "lambda_relative": lam_rel,
            "steps": steps, "k": k, "masks": masks, "grey_zone": grey, "iterations_for_k": iters}


def depends_on_sigma(name: str) -> bool:
    # The PCA mask here counts indices; the others are functions of σ and so are noise below the floor.
    return name != "pca"


def payload(s, r: dict, import_s: float) -> dict:
    from ntktui.output import resolved_list

    spec = shared.spectrum_json(s)
    everywhere = [True] * s.singular_values.size
    masks = {name: resolved_list(m, s.resolved if depends_on_sigma(name) else everywhere)
             for name, m in r["masks"].items()}
    return {
        "activation": s.activation, "scale": s.scale, "samples": s.samples, "width": s.width,
        "eta": r["eta"], "eta_relative": r["eta_relative"], "steps": r["steps"],
        "lambda": r["lambda"], "lambda_relative": r["lambda_relative"], "k": r["k"],
        "tau": _tau(), "singular_values": spec["singular_values"], "normalized": spec["normalized"],
        "floor": s.floor, "masks": masks, "kept_above_half": kept_above_half(s, r["masks"]),
        "grey_zone": r["grey_zone"], "iterations_for_k": r["iterations_for_k"],
        "timings": {"import_s": import_s, "compile_s": s.compile_s, "compute_s": s.compute_s},
    }


def _tau() -> float:
    from engine.shrinkage import TAU_DEFAULT

    return TAU_DEFAULT


def kept_above_half(s, masks: dict) -> dict:
    """Components each mask keeps above ½, counting only σ above the round-off floor."""
    return {name: int(((m > 0.5) & (s.resolved | (not depends_on_sigma(name)))).sum())
            for name, m in masks.items()}


def mask_plot(s, r: dict):
    import numpy as np

    from ntktui.render import Plot, Series

    index = np.arange(1, s.singular_values.size + 1)
    labels = {
        "ridge": f"ridge λ={r['lambda_relative']:g}·σ₁²",
        "pca": f"PCA k={r['k']}",
        "gd": f"GD η={r['eta_relative']:g}/σ₁², T={r['steps']:g}",
        "flow": f"flow ηT={r['eta_relative'] * r['steps']:g}/σ₁²",
    }
    series = []
    for name in MASKS:
        keep = s.resolved if depends_on_sigma(name) else np.ones_like(s.resolved)
        series.append(Series(labels[name], index[keep], r["masks"][name][keep]))
    return Plot(title=f"Shrinkage masks m(σ_k), {s.activation} s={s.scale:g} "
                f"(N={s.samples}, M={s.width})", xlabel="k", ylabel="m(σ_k)", series=series,
                hlines=[(0.5, "½")], ylim=(-0.02, 1.02), log_x=True)


def mask_blocks(s, r: dict) -> list:
    from ntktui.report import Table

    kept = kept_above_half(s, r["masks"])
    settings = {"ridge": f"λ = {r['lambda']:.3e}", "pca": f"k = {r['k']}",
                "gd": f"η = {r['eta']:.3e}, T = {r['steps']:g}",
                "flow": f"ηT = {r['eta'] * r['steps']:.3e}"}
    g = r["grey_zone"]
    iters = r["iterations_for_k"]
    gd_rows = [
        ("σ where GD mask = 0.99", g["sigma_high"], g["normalized_high"]),
        ("σ where GD mask = 0.01", g["sigma_low"], g["normalized_low"]),
        ("grey-zone ratio", g["ratio"], None),
        ("grey-zone width (dB)", g["db"], None),
        (f"GD iterations to keep k={r['k']} (mask {_tau():.3f})",
         "below floor" if iters is None else iters, None),
    ]
    return [
        mask_plot(s, r),
        shared.spectrum_plot([s]),
        Table("Masks", ["mask", "setting", "#kept > ½"],
              [(name, settings[name], kept[name]) for name in MASKS]),
        Table("Gradient descent", ["quantity", "value", "σ/σ₁"], gd_rows),
    ]


def stable_step(eta: float, p: Param) -> None:
    if eta >= 2:
        raise p.error(f"{eta:g} is unstable: gradient descent diverges for η ≥ 2/σ₁²; choose "
                      f"{p.flag} below 2 (1 is the efficient step)")


def whole_steps(steps: float, p: Param) -> None:
    if not float(steps).is_integer():
        raise p.error(f"must be a whole number ≥ 1, got {steps:g}")


def memory(values: dict) -> None:
    shared.shallow_memory(values["samples"] or values["width"], values["width"])


STUDY = Study(
    name="mask", order=30, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACT.with_(help="Activation (one), e.g. relu, tanh, relu2."),
        shared.WIDTH,
        shared.SAMPLES,
        shared.SCALE,
        Param("eta", FLOAT, 1.0, help="GD step η as a multiple of 1/σ₁² (stable below 2).",
              lo=1e-12, unit="× 1/σ₁²", check=stable_step),
        Param("steps", FLOAT, 1000.0, help="GD steps T, a whole number (1e6 is fine).",
              flags=("--steps", "-T"), lo=1, check=whole_steps),
        Param("lam", FLOAT, 1e-4, help="Ridge λ as a multiple of σ₁².", lo=1e-300,
              unit="× σ₁²"),
        Param("k", INT, 16, help="Components PCA keeps; also the k whose GD iterations are "
              "reported.", flags=("--k", "-k"), lo=1),
    ),
)
