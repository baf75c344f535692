"""Options shared by several commands, declared once, and parsers for list-valued options."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from ntktui.errors import UserError

Json = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
Acts = Annotated[
    Optional[List[str]],
    typer.Option("--act", "-a", help="Activation (repeatable): heaviside, tanh, relu, reluK, gelu, "
                 "silu, sinc, gaussian, cos, sin, abs, linear, abrelu(a,b), erf."),
]
Dtype = Annotated[str, typer.Option("--dtype", help="float64 (default) or float32.")]
# The shallow network of seed 003: width M, samples N (default M) and the activation scale s.
Width = Annotated[int, typer.Option("--width", "-m", help="Network width M (number of biases).")]
Samples = Annotated[Optional[int], typer.Option("--samples", "-n", help="Samples N (default: M).")]
Scale = Annotated[float, typer.Option("--scale", "-s", help="Activation scale s: φ(s·t).")]
PlotWidth = Annotated[Optional[int], typer.Option("--plot-width", help="Plot width in columns.")]


def parse_int_list(text: str, name: str) -> list[int]:
    """'4,8,16' → [4, 8, 16]; also 'a:b' (inclusive) and 'a:b:step'."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) not in (2, 3) or (len(bits) == 3 and bits[2] <= 0):
                    raise ValueError
                step = bits[2] if len(bits) == 3 else 1
                out.extend(range(bits[0], bits[1] + 1, step))
            else:
                out.append(int(part))
        except ValueError:
            raise UserError(f"{name} must be integers like 4,8,16 or a range 1:30, got {text!r}") from None
    if not out:
        raise UserError(f"{name} is empty")
    if any(v <= 0 for v in out):
        raise UserError(f"{name} values must be positive, got {text!r}")
    return out


def parse_widths(text: str, samples: int | None = None, name: str = "--hidden") -> list[int]:
    """'512,512' → [512, 512]; a width may be a multiple of the sample count: '8N,400' with N=25
    → [200, 400] (seed 000 grows the wide layer with N)."""
    out: list[int] = []
    for part in (p.strip().upper() for p in text.split(",")):
        if not part:
            continue
        if part.endswith("N") and samples is None:
            raise UserError(f"{name} uses N ({text!r}) but there is no sample count here")
        try:
            if part.endswith("N"):
                value = round(float(part[:-1] or "1") * samples)
            else:
                value = int(part)
        except ValueError:
            raise UserError(f"{name} must be widths like 512,512 or 8N,400, got {text!r}") from None
        if value < 1:
            raise UserError(f"{name} widths must be positive, got {text!r}")
        out.append(value)
    if not out:
        raise UserError(f"{name} is empty")
    return out


def check_finite(value: float, name: str) -> float:
    import math

    if not math.isfinite(value):
        raise UserError(f"{name} must be a finite number, got {value}")
    return value


def check_positive(value: float, name: str) -> float:
    check_finite(value, name)
    if value <= 0:
        raise UserError(f"{name} must be positive, got {value}")
    return value


# The deep networks of SPEC §5 (kernel, lmin, and the studies built on them).
Act = Annotated[str, typer.Option("--act", "-a", help="Activation (see `ntk spectrum --help`).")]
Hidden = Annotated[str, typer.Option("--hidden", help="Hidden widths, e.g. 512,512; a width may be "
                                     "a multiple of the sample count: 8N,400. Output width 1.")]
Param = Annotated[str, typer.Option("--param", help="Parameterisation: ntk, standard or unscaled "
                                    "(SPEC §5).")]
SigmaW = Annotated[float, typer.Option("--sigma-w", help="Weight scale σ_w (β for unscaled).")]
SigmaB = Annotated[float, typer.Option("--sigma-b", help="Bias scale σ_b; 0 means no bias.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the initialisation and synthetic data.")]
Chunk = Annotated[Optional[int], typer.Option("--chunk", help="Neurons per chunk of a wide layer "
                                              "(default: the largest that fits in memory).")]
N0 = Annotated[Optional[int], typer.Option("--n0", help="Input dimension of synthetic data.")]
Data = Annotated[Optional[str], typer.Option("--data", help="Inputs from an N × n0 .npy or .csv "
                                             "file instead of synthetic rows.")]
ActScale = Annotated[float, typer.Option("--scale", "-s", help="Activation frequency s: φ(s·t).")]
Dataset = Annotated[Optional[str], typer.Option("--dataset", help="A named data set instead of "
                                                "--data: sphere (synthetic, the default), clustered, "
                                                "or digits (scikit-learn's 8×8 handwritten digits, "
                                                "first N rows, offline).")]
Depth = Annotated[Optional[int], typer.Option("--depth", "-L", help="Weight layers L (hidden layers "
                                              "+ 1); must agree with --hidden if both are given.")]
Depths = Annotated[str, typer.Option("--depth", "-L", help="Depths L (weight layers): a list 1,2,5 "
                                     "or a range 1:30 or 1:30:2.")]
