"""Principal components (columns of U) of the shallow Jacobian as functions of x (seed 003 Fig. 4, 5),
or with --2d as images for rank-one and full-rank first-layer weights beside the 2-D DST basis
(seed 003 Appendix E, Fig. 9)."""

from __future__ import annotations

from ntktui.errors import UserError
from ntktui.params import FLAG, INT, Param
from ntktui.studies import Study, shared

DEFAULT_ACTS = ("heaviside", "tanh", "relu", "relu2")
DEFAULT_ACT_2D = "relu"  # seed 003 Fig. 9
INITS = ("rank-one", "full-rank")


def analyse(progress, *, act, count, width, samples, scale, two_d, side, seed):
    from ntktui.report import Report

    if two_d:
        payload = components_2d(progress, act, count, width, scale, side, seed)
        return Report(payload, components_2d_blocks(payload))
    payload = components_1d(progress, act, count, width, samples, scale)
    return Report(payload, components_1d_blocks(payload))


def _check_count(count: int, samples: int, width: int) -> None:
    if samples > 0 and width > 0 and count > min(samples, width):
        raise UserError(f"--count {count} exceeds the number of components, min(N, M) = "
                        f"{min(samples, width)}")


def components_1d(progress, acts, count, width, samples, scale):
    samples = width if samples is None else samples
    _check_count(count, samples, width)

    from engine.activations import get
    from engine.shallow import check_sizes, principal_components

    activations = [get(a) for a in (acts or DEFAULT_ACTS)]  # validate every name first
    check_sizes(samples, width, vectors=True)
    results, x = [], None
    progress.begin("components", len(activations))
    for a in activations:
        x, u, sigma = principal_components(a, samples, width, scale, count)
        results.append({"activation": a.name, "singular_values": sigma[:count],
                        "components": u.T})
        progress.step()
    return {"samples": samples, "width": width, "scale": scale, "count": count, "x": x,
            "results": results}


def components_2d(progress, acts, count, width, scale, side, seed):
    acts = list(acts or [DEFAULT_ACT_2D])
    if len(acts) != 1:
        raise UserError(f"--2d shows one activation; got {len(acts)}: {', '.join(acts)}")
    _check_count(count, side * side, width)

    from engine.activations import get
    from engine.shallow import dst_basis_2d, principal_components_2d

    a = get(acts[0])
    results = []
    progress.begin("components", len(INITS))
    for init in INITS:
        images, sigma = principal_components_2d(a, side, width, scale, init, count, seed)
        results.append({"init": init, "singular_values": sigma[:count], "components": images})
        progress.step()
    return {"side": side, "width": width, "activation": a.name, "scale": scale, "count": count,
            "seed": seed, "results": results, "dst": dst_basis_2d(side, count)}


def component_plot(payload: dict, r: dict):
    from ntktui.render import Plot, Series

    series = [Series(f"PC {k}", payload["x"], u) for k, u in enumerate(r["components"], start=1)]
    return Plot(title=f"{r['activation']}: principal components  (N={payload['samples']}, "
                f"M={payload['width']}, s={payload['scale']:g})",
                xlabel="x", ylabel="u_k(x)", series=series, height=11)


def zero_crossings(u) -> int:
    """Sign changes along a component: k − 1 for the k-th vector of a frequency basis."""
    import numpy as np

    signs = np.sign(np.asarray(u))
    signs = signs[signs != 0]
    return int((signs[1:] != signs[:-1]).sum())


def components_1d_blocks(payload: dict) -> list:
    from ntktui.report import Table

    plots = [component_plot(payload, r) for r in payload["results"]]
    rows = [(r["activation"], r["singular_values"][0],
             r["singular_values"][-1] / r["singular_values"][0],
             " ".join(str(zero_crossings(u)) for u in r["components"]))
            for r in payload["results"]]
    return [*plots, Table("Leading components", ["activation", "σ₁", f"σ_{payload['count']}/σ₁",
                                                 "sign changes per component"], rows)]


def variation(images):
    """Summed |differences| along rows (horizontal) and along columns (vertical) of the images:
    total variation split by direction."""
    import numpy as np

    imgs = np.asarray(images)
    return float(np.abs(np.diff(imgs, axis=2)).sum()), float(np.abs(np.diff(imgs, axis=1)).sum())


def components_2d_blocks(payload: dict) -> list:
    import numpy as np

    from ntktui.render import ImageGrid
    from ntktui.report import Table

    side = payload["side"]
    labels = {"rank-one": f"rank-one w_j = (1/{side}, 1) (Zhang et al.)",
              "full-rank": f"full-rank: random unit directions (seed {payload['seed']})"}
    rows = [(labels[r["init"]], list(r["components"])) for r in payload["results"]]
    rows.append(("2-D DST  sin(πjx)·sin(πky)", list(payload["dst"])))
    grid = ImageGrid(title=f"{payload['activation']}: leading 2-D principal components  "
                     f"(side={side}, M={payload['width']}, s={payload['scale']:g})", rows=rows)
    stats = []
    for r in payload["results"]:
        h, v = variation(r["components"])
        stats.append((r["init"], r["singular_values"][0],
                      r["singular_values"][-1] / r["singular_values"][0], h + v, h / v if v else None))
    dst = np.asarray(payload["dst"])
    dst = dst / np.linalg.norm(dst.reshape(len(dst), -1), axis=1)[:, None, None]
    h, v = variation(dst)
    stats.append(("2-D DST", None, None, h + v, h / v))
    return [grid,
            Table("Smoothness of the unit-norm components (lower total variation is smoother)",
                  ["init", "σ₁", f"σ_{payload['count']}/σ₁", "total variation",
                   "horizontal / vertical"], stats)]


def memory(values: dict) -> None:
    if values["two_d"]:
        shared.shallow_memory(values["side"] ** 2, values["width"], vectors=True)
    else:
        shared.shallow_memory(values["samples"] or values["width"], values["width"], vectors=True)


STUDY = Study(
    name="components", order=20, help=__doc__, analyse=analyse, memory=memory,
    params=(
        shared.ACTS.with_(default_text="heaviside, tanh, relu, relu2; relu with --2d"),
        Param("count", INT, 4, help="Number of leading components.", flags=("--count", "-k"), lo=1),
        shared.WIDTH,
        shared.SAMPLES,  # Fig. 5 uses fewer samples than width
        shared.SCALE,
        Param("two_d", FLAG, False, help="2-D components as images (Appendix E).", flags=("--2d",)),
        Param("side", INT, 24, help="With --2d: grid side (side² samples).", lo=1),
        shared.SEED.with_(help="With --2d: seed of the full-rank directions."),
    ),
)
