"""Growth of the empirical NTK's λ_min with the number of samples N (seed 000 Fig. 1–2).

Defaults are seed 000's network: n0 = 400, hidden widths 8N and 400 (use --hidden 15N,400 for
Fig. 2), output 1, cos against relu, synthetic Gaussian rows of norm √n0. The paper uses the
unscaled initialisation of Nguyen et al., W ~ N(0, β²); we take β = 1/√n0 = 0.05 (--sigma-w) so
the first layer's pre-activations have unit variance. In this setting λ_min grows like N^1.2–1.8
for cos and N^0.85–0.9 for relu (the fitted exponents are printed; the defaults give 1.31 and
0.85). Every finished row is written to --out FILE.json at once (atomically), so Ctrl-C keeps
every finished row.
"""

from __future__ import annotations

import time

from ntktui.params import INTS, TEXT, Param, widths
from ntktui.studies import Study, shared


def analyse(progress, *, act, samples, hidden, n0, scale, param, sigma_w, sigma_b, seed, dtype,
            chunk, out):
    from engine import backend
    from engine.data import sphere_points
    from engine.mlp import MLPSpec
    from engine.ntk import empirical_kernel

    dt = backend.resolve_dtype(dtype)
    # Every network is built (and so validated) before anything is computed.
    specs = {(a, N): MLPSpec((n0, *widths(hidden, N), 1), a, scale, param, sigma_w, sigma_b)
             for a in act for N in samples}
    for s in specs.values():
        s.act.require_derivative()  # refused here, not after a sweep
    study = Sweep(list(act), list(samples),
                  {"n0": n0, "hidden": hidden, "param": param, "sigma_w": sigma_w,
                   "sigma_b": sigma_b, "scale": scale, "seed": seed, "dtype": dt.name,
                   "device": backend.default_device_name()})
    progress.begin("λ_min", len(specs))
    for N in samples:
        x = sphere_points(N, n0, seed)
        for a in act:
            r = empirical_kernel(specs[a, N], x, seed=seed, dtype=dt, chunk=chunk,
                                 progress=shared.cancel_between_tiles(progress))
            study.add(a, N, r)
            if out:
                from ntktui.output import write_json_atomic

                write_json_atomic(out, study.payload())
            progress.step(partial=study.report())
    return study.report()


class Sweep:
    """The rows finished so far, in the order they finished."""

    def __init__(self, acts, sizes, setting):
        self.acts, self.sizes, self.setting = acts, sizes, setting
        self.rows: dict[str, list] = {a: [] for a in acts}
        self.compile_s = self.compute_s = 0.0
        self.started = time.perf_counter()

    def add(self, act, N, result):
        self.rows[act].append((N, result.spectrum))
        self.compile_s += result.compile_s
        self.compute_s += result.compute_s

    @property
    def complete(self) -> bool:
        return all(len(r) == len(self.sizes) for r in self.rows.values())

    def results(self) -> list[dict]:
        from engine.ntk import growth_exponent

        out = []
        for a in self.acts:
            Ns = [N for N, _ in self.rows[a]]
            lmins = [s.lambda_min for _, s in self.rows[a]]
            out.append({"activation": a, "samples": Ns, "lambda_min": lmins,
                        "below_floor": [s.below_floor for _, s in self.rows[a]],
                        "floor": [s.floor for _, s in self.rows[a]],
                        "lambda_max": [s.lambda_max for _, s in self.rows[a]],
                        "exponent": growth_exponent(Ns, lmins)})
        return out

    def payload(self) -> dict:
        return {"setting": self.setting, "results": self.results(),
                "interrupted": not self.complete,
                "timings": {"compile_s": self.compile_s, "compute_s": self.compute_s}}

    def report(self):
        from ntktui.render import Plot, Series
        from ntktui.report import Note, Report, Table

        results = self.results()
        series = [Series(f"{r['activation']}" + (f"  N^{r['exponent']:.2f}" if r["exponent"] else ""),
                         [N for N, v in zip(r["samples"], r["lambda_min"]) if v],
                         [v for v in r["lambda_min"] if v]) for r in results]
        blocks = []
        if any(len(s.x) for s in series):
            blocks.append(Plot("λ_min of the empirical NTK against N", "N", "λ_min",
                               [s for s in series if len(s.x)], log_x=True, log_y=True))
        rows = []
        for r in results:
            for N, v, lmax in zip(r["samples"], r["lambda_min"], r["lambda_max"]):
                rows.append((r["activation"], N, "below floor" if v is None else v, lmax))
        blocks.append(Table("λ_min growth", ["act", "N", "λ_min", "λ_max"], rows))
        exps = ", ".join(f"{r['activation']} {r['exponent']:.2f}" if r["exponent"] is not None
                         else f"{r['activation']} —" for r in results)
        st = self.setting
        blocks.append(Note(f"fitted exponent a in λ_min ∝ N^a: {exps}"))
        blocks.append(Note(f"[dim]n0={st['n0']}, hidden {st['hidden']}, {st['param']} "
                           f"σ_w={st['sigma_w']:g} σ_b={st['sigma_b']:g}, s={st['scale']:g}, "
                           f"{st['dtype']} on {st['device']}[/dim]"))
        return Report(self.payload(), blocks, complete=self.complete)


def json_file(path: str, p: Param) -> None:
    if not path.endswith(".json"):
        raise p.error(f"must name a .json file, got {path!r}")


def memory(values: dict) -> None:
    """Every row of the sweep, before the first."""
    for N in values["samples"]:
        shared.data_memory(N, values["n0"])
        for a in values["act"]:
            shared.empirical_memory((values["n0"], *widths(values["hidden"], N), 1), a,
                                    values["scale"], values["param"], values["sigma_w"],
                                    values["sigma_b"], N, values["dtype"], values["chunk"])


STUDY = Study(
    name="lmin", order=80, help=__doc__, analyse=analyse, memory=memory,
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
    ),
)
