"""Spline view of activations: columns of D_p⁻¹ against shifted heaviside, relu, relu2 (seed 003
Appendix A, Fig. 7)."""

from __future__ import annotations

from ntktui.errors import UserError
from ntktui.params import INT, INTS, Param
from ntktui.studies import Study


def analyse(progress, *, order, size, columns):
    from engine import spline
    from ntktui.report import Report

    for p in order:
        spline.check(p, size)  # refuse every bad order before computing any
    outside = [c for c in columns if c > size]
    if outside:
        raise UserError(f"--columns must lie in 1..{size} (the size N), got {outside}")
    results = []
    progress.begin("orders", len(order))
    for p in order:
        results.append(order_result(spline, p, size, list(columns)))
        progress.step()
    payload = {"size": size, "orders": list(order), "columns": list(columns),
               "i": list(range(1, size + 1)), "results": results}
    return Report(payload, spline_blocks(results, size, list(columns)))


def order_result(spline, p: int, size: int, cols: list[int]) -> dict:
    inv = spline.difference_inverse(p, size)
    dev = spline.deviations(p, size)
    return {
        "order": p,
        "activation": spline.activation_name(p),
        "filter": spline.difference_filter(p),
        "inverse_columns": [inv[:, c - 1] for c in cols],
        "closed_form_columns": [spline.reference_column(p, size, c - 1) for c in cols],
        "activation_columns": [spline.shifted_activation(p, size, c - 1) for c in cols],
        "inverse_residual": dev.inverse_residual,
        "closed_form_deviation": dev.closed_form,
        "activation_deviation": dev.activation,
        "activation_relative_deviation": dev.activation_relative,
    }


def activation_label(p: int, name: str) -> str:
    if p == 1:
        return "heaviside(t)"
    return f"{name}(t+1)" + (f"/{p - 1}!" if p > 2 else "")


def order_plot(r: dict, size: int, cols: list[int]):
    from ntktui.render import Plot, Series

    i = list(range(1, size + 1))
    label = activation_label(r["order"], r["activation"])
    series = [Series(f"D_p⁻¹ column {c}", i, inv) for c, inv in zip(cols, r["inverse_columns"])]
    # The activations as one dotted series over every third i, so the lines stay visible under it.
    dots = range(0, size, 3)
    series.append(Series(f"{label} shifted to each column",
                         [i[k] for _ in cols for k in dots],
                         [act[k] for act in r["activation_columns"] for k in dots], scatter=True))
    return Plot(title=f"p={r['order']}: columns of D_p⁻¹ vs shifted {r['activation']}, t = i − j",
                xlabel="i", ylabel="value", series=series, height=14)


def spline_blocks(results, size, cols) -> list:
    from ntktui.report import Note, Table

    plots = [order_plot(r, size, cols) for r in results]
    rows = [(r["order"], r["inverse_residual"], r["closed_form_deviation"],
             activation_label(r["order"], r["activation"]), r["activation_deviation"],
             r["activation_relative_deviation"]) for r in results]
    summary = Table(f"D_p⁻¹ (N={size}): max deviation over all columns",
                    ["p", "D·D⁻¹ − I", "vs C(t+p−1,p−1)", "plain activation", "vs activation",
                     "relative"], rows)
    # report.Table has no caption: the caption is a note under the table.
    caption = Note("[dim]Columns of D_p⁻¹ equal C(t+p−1, p−1), t = i − j, exactly for every p; "
                   "the plain shifted activation differs by lower-order terms for p ≥ 3.[/dim]")
    return [*plots, summary, caption]


def memory(values: dict) -> None:
    from engine import spline

    for p in values["order"]:
        spline.check(p, values["size"])


STUDY = Study(
    name="spline", order=60, help=__doc__, analyse=analyse, memory=memory,
    params=(
        Param("order", INTS, (1, 2, 3), help="Difference order p (repeatable or a list like "
              "1,2,3).", flags=("--order", "-p"), lo=1, repeat=True),
        Param("size", INT, 64, help="Matrix size N.", flags=("--size", "-n"), lo=1),
        Param("columns", INTS, (8, 24, 40), help="Columns j of D_p⁻¹ to plot, 1-based (e.g. "
              "8,24,40).", flags=("--columns", "-c"), lo=1),
    ),
)
