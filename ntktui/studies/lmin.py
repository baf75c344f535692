"""Growth of the empirical NTK's λ_min with the number of samples N and with the width n_k of the
wide layer (seed 000 Fig. 1–2 and its n_k^{3/2} claim).

Defaults are seed 000's network: n0 = 400, hidden widths 8N and 400 (use --hidden 15N,400 for
Fig. 2), output 1, cos against relu, synthetic Gaussian rows of norm √n0. The paper uses the
unscaled initialisation of Nguyen et al., W ~ N(0, β²); we take β = 1/√n0 = 0.05 (--sigma-w) so
the first layer's pre-activations have unit variance. In this setting λ_min grows like N^1.2–1.8
for cos and N^0.85–0.9 for relu (the fitted exponents are printed; the defaults give 1.31 and
0.85), with the wide layer tied to N; docs/seed000-growth.md shows the slope falling towards 1
at larger sizes and in the width n_k.

--sweep width (or both) also sweeps the wide layer's width n_k over --widths at a fixed N
(--fixed-n, default the largest --samples); --wide K picks which hidden layer is the wide one.
--seeds K repeats every row with seeds seed … seed+K−1 (network and data) and reports each
exponent with a 95% confidence interval (the pooled log–log regression) and every seed's own
exponent. --dataset draws the inputs from the sphere of radius √n0 (default), Gaussian rows, or
the uniform cube. Every finished row is written to --out FILE.json at once (atomically), so
Ctrl-C keeps every finished row.
"""

from __future__ import annotations

import math
import time

from ntktui.errors import UserError
from ntktui.params import INT, INTS, TEXT, Param, widths
from ntktui.studies import Study, shared

SWEEPS = ("n", "width", "both")
DATASETS = ("sphere", "gaussian", "uniform")


def analyse(progress, *, act, samples, hidden, n0, scale, param, sigma_w, sigma_b, seed, dtype,
            chunk, out, sweep="n", widths=(), fixed_n=None, wide=1, seeds=1, dataset=None):
    from engine import backend
    from engine.mlp import MLPSpec
    from engine.ntk import empirical_kernel

    dt = backend.resolve_dtype(dtype)
    dataset = dataset or "sphere"
    plan = sweep_plan(samples, hidden, sweep, widths, fixed_n, wide)
    # Every network is built (and so validated) before anything is computed.
    specs = {(a, ws): MLPSpec((n0, *ws, 1), a, scale, param, sigma_w, sigma_b)
             for a in act for _, _, _, ws in plan}
    for s in specs.values():
        s.act.require_derivative()  # refused here, not after a sweep
    study = Sweep(list(act), plan, seeds,
                  {"n0": n0, "hidden": hidden, "param": param, "sigma_w": sigma_w,
                   "sigma_b": sigma_b, "scale": scale, "seed": seed, "dtype": dt.name,
                   "device": backend.default_device_name(), "dataset": dataset, "seeds": seeds,
                   "sweep": sweep, "wide": wide})
    progress.begin("λ_min", len(plan) * seeds * len(act))
    for kind, N, x_value, ws in plan:
        for k in range(seeds):
            x = points(dataset, N, n0, seed + k)
            for a in act:
                r = empirical_kernel(specs[a, ws], x, seed=seed + k, dtype=dt, chunk=chunk,
                                     progress=shared.cancel_between_tiles(progress))
                study.add(kind, a, x_value, seed + k, r)
                if out:
                    from ntktui.output import write_json_atomic

                    write_json_atomic(out, study.payload())
                progress.step(partial=study.report())
    return study.report()


def points(dataset: str, N: int, n0: int, seed: int):
    from engine import data

    make = {"sphere": data.sphere_points, "gaussian": data.gaussian_points,
            "uniform": data.uniform_points}[dataset]
    return make(N, n0, seed)


def sweep_plan(samples, hidden, sweep, wide_widths, fixed_n, wide) -> list[tuple]:
    """The rows to compute as (kind, N, the swept value, hidden widths): kind "n" has the widths
    of --hidden at each N, kind "width" has hidden layer `wide` set to each width at fixed N."""
    rows = []
    if sweep in ("n", "both"):
        rows += [("n", N, N, tuple(widths(hidden, N))) for N in samples]
    if sweep in ("width", "both"):
        N = fixed_n or max(samples)
        base = widths(hidden, N)
        for w in wide_widths:
            ws = list(base)
            ws[wide - 1] = w
            rows.append(("width", N, w, tuple(ws)))
    return rows


class Sweep:
    """The rows finished so far, in the order they finished."""

    def __init__(self, acts, plan, seeds, setting):
        self.acts, self.plan, self.seeds, self.setting = acts, plan, seeds, setting
        self.kinds = list(dict.fromkeys(kind for kind, *_ in plan))
        self.rows: dict[tuple, list] = {(kind, a): [] for kind in ("n", "width") for a in acts}
        self.fixed_n = next((N for kind, N, *_ in plan if kind == "width"), None)
        self.compile_s = self.compute_s = 0.0
        self.started = time.perf_counter()

    def add(self, kind, act, x_value, seed, result):
        self.rows[kind, act].append((x_value, seed, result.spectrum))
        self.compile_s += result.compile_s
        self.compute_s += result.compute_s

    @property
    def complete(self) -> bool:
        return sum(len(r) for r in self.rows.values()) == len(self.plan) * self.seeds * len(self.acts)

    def _rows(self, kind: str, key: str) -> list[dict]:
        from engine.ntk import growth_fit

        out = []
        for a in self.acts:
            rows = self.rows[kind, a]
            xs = [x for x, _, _ in rows]
            lmins = [s.lambda_min for _, _, s in rows]
            seeds = [k for _, k, _ in rows]
            fit = growth_fit(xs, lmins, seeds)
            out.append({"activation": a, key: xs, "seed": seeds, "lambda_min": lmins,
                        "below_floor": [s.below_floor for _, _, s in rows],
                        "floor": [s.floor for _, _, s in rows],
                        "lambda_max": [s.lambda_max for _, _, s in rows],
                        **fit.as_dict(), "local_exponents": local_exponents(xs, lmins)})
        return out

    def results(self) -> list[dict]:
        return self._rows("n", "samples") if "n" in self.kinds else []

    def width_results(self) -> list[dict]:
        if "width" not in self.kinds:
            return []
        return [{**r, "fixed_samples": self.fixed_n} for r in self._rows("width", "widths")]

    def payload(self) -> dict:
        return {"setting": self.setting, "results": self.results(),
                "width_results": self.width_results(),
                "interrupted": not self.complete,
                "timings": {"compile_s": self.compile_s, "compute_s": self.compute_s}}

    def report(self):
        from ntktui.report import Note, Report

        st = self.setting
        blocks = []
        fits = []
        for results, key, label, name in ((self.results(), "samples", "N", "N"),
                                          (self.width_results(), "widths", "n_k", "width")):
            if not results and name not in self.kinds:
                continue
            blocks += growth_blocks(results, key, label, self.seeds, self.fixed_n)
            fits.append(f"{'N (n_k tied to N)' if name == 'N' else f'n_k at N = {self.fixed_n}'}: "
                        + ", ".join(f"{r['activation']} {exponent_text(r)}" for r in results))
        blocks.append(Note("fitted exponent a in λ_min ∝ x^a (95% interval): " + "; ".join(fits)))
        blocks.append(Note(f"[dim]n0={st['n0']}, hidden {st['hidden']}, {st['param']} "
                           f"σ_w={st['sigma_w']:g} σ_b={st['sigma_b']:g}, s={st['scale']:g}, "
                           f"{st['dataset']} data, {self.seeds} seed(s) from {st['seed']}, "
                           f"{st['dtype']} on {st['device']}[/dim]"))
        return Report(self.payload(), blocks, complete=self.complete)


def exponent_text(r: dict) -> str:
    if r["exponent"] is None:
        return "—"
    ci = f" [{r['exponent_ci'][0]:.2f}, {r['exponent_ci'][1]:.2f}]" if r["exponent_ci"] else ""
    return f"{r['exponent']:.2f}{ci}"


def by_value(xs, values) -> list[tuple]:
    """(x, geometric mean, min, max, count) of the resolved values at each distinct x."""
    groups: dict = {}
    for x, v in zip(xs, values):
        groups.setdefault(x, [])
        if v is not None and v > 0:
            groups[x].append(v)
    return [(x, math.exp(sum(map(math.log, vs)) / len(vs)) if vs else None,
             min(vs, default=None), max(vs, default=None), len(vs)) for x, vs in groups.items()]


def local_exponents(xs, values) -> list[float | None]:
    """The log–log slope between consecutive distinct x (of the geometric means over seeds):
    how the growth rate changes along the sweep."""
    g = sorted(by_value(xs, values))
    return [math.log(b[1] / a[1]) / math.log(b[0] / a[0]) if a[1] and b[1] else None
            for a, b in zip(g, g[1:])]


def growth_blocks(results, key, label, seeds, fixed_n) -> list:
    from ntktui.render import Plot, Series
    from ntktui.report import Table

    blocks = []
    series = []
    for r in results:
        pts = [(x, m) for x, m, *_ in by_value(r[key], r["lambda_min"]) if m]
        if pts:
            series.append(Series(f"{r['activation']}  {label}^{exponent_text(r)}",
                                 [x for x, _ in pts], [m for _, m in pts]))
    where = f" (N = {fixed_n})" if key == "widths" else ""
    if series:
        blocks.append(Plot(f"λ_min of the empirical NTK against {label}{where}", label, "λ_min",
                           series, log_x=True, log_y=True))
    rows = []
    for r in results:
        lmax = dict((x, m) for x, m, *_ in by_value(r[key], r["lambda_max"]))
        for x, m, lo, hi, n in by_value(r[key], r["lambda_min"]):
            shown = "below floor" if m is None else m
            rows.append((r["activation"], x, shown, lmax.get(x)) if seeds == 1 else
                        (r["activation"], x, shown, lo, hi, n, lmax.get(x)))
    title = "λ_min growth" if key == "samples" else f"λ_min against the width n_k{where}"
    head = ["act", label, "λ_min", "λ_max"] if seeds == 1 else \
        ["act", label, "λ_min (geo. mean)", "min", "max", "resolved", "λ_max"]
    blocks.append(Table(title, head, rows))
    return blocks


def json_file(path: str, p: Param) -> None:
    if not path.endswith(".json"):
        raise p.error(f"must name a .json file, got {path!r}")


def check(values: dict) -> None:
    sweep = values.get("sweep", "n")
    if sweep in ("width", "both"):
        N = values.get("fixed_n") or max(values["samples"])
        layers = len(widths(values["hidden"], N))
        if values.get("wide", 1) > layers:
            raise UserError(f"--wide {values['wide']} names hidden layer {values['wide']}, but "
                            f"--hidden {values['hidden']} has {layers}")
        if len(values.get("widths") or ()) < 2:
            raise UserError("--sweep width needs at least two --widths to fit an exponent")


def memory(values: dict) -> None:
    """Every row of both sweeps, before the first."""
    plan = sweep_plan(values["samples"], values["hidden"], values.get("sweep", "n"),
                      values.get("widths", ()), values.get("fixed_n"), values.get("wide", 1))
    for _, N, _, ws in plan:
        shared.data_memory(N, values["n0"])
        for a in values["act"]:
            shared.empirical_memory((values["n0"], *ws, 1), a, values["scale"], values["param"],
                                    values["sigma_w"], values["sigma_b"], N, values["dtype"],
                                    values["chunk"])


STUDY = Study(
    name="lmin", order=80, help=__doc__, analyse=analyse, memory=memory, check=check,
    params=(
        shared.ACTS.with_(default=("cos", "relu")),
        Param("samples", INTS, (25, 50, 100, 200), help="Sample counts N, e.g. 25,50,100,200 or "
              "25:200:25.", flags=("--samples", "-n"), lo=1),
        shared.HIDDEN.with_(default="8N,400"),
        shared.N0.with_(default=400, help="Input dimension."),
        shared.ACT_SCALE,
        shared.PARAM.with_(default="unscaled"),
        shared.SIGMA_W.with_(default=0.05),
        shared.SIGMA_B,
        shared.SEED,
        shared.DTYPE,
        shared.CHUNK,
        Param("out", TEXT, None, help="Rewrite FILE.json after every finished row.", unit="file",
              check=json_file, lookup=shared.writable_file),
        Param("sweep", TEXT, "n", help="What grows: n (N, with --hidden's widths tied to N), "
              "width (the wide layer's width n_k at fixed N), or both.", choices=SWEEPS),
        Param("widths", INTS, (1000, 2000, 4000, 8000), help="Widths n_k of the wide layer for "
              "--sweep width|both, e.g. 1000,2000,4000,8000.", lo=1, hi=10**7),
        Param("fixed_n", INT, None, help="N of the width sweep (default: the largest --samples).",
              flags=("--fixed-n",), lo=1, default_text="the largest --samples"),
        Param("wide", INT, 1, help="Which hidden layer (1 = the first) the width sweep widens.",
              lo=1),
        Param("seeds", INT, 1, help="Seeds per row (seed … seed+K−1, network and data): the "
              "exponents' confidence intervals and spread.", lo=1, hi=1000),
        shared.DATASET.with_(choices=DATASETS, help="Inputs: sphere (rows of norm √n0, the "
                             "default), gaussian (N(0, I) rows) or uniform (the cube [−√3, √3]^n0)."),
    ),
)
