"""The tool commands (presets, run, tui, devices): NAME, a docstring (the help text) and run().
The analysis commands are generated from the registry (ntktui.studies) by ntktui.cli.

Also here: the options every command's front end has (--json, --plot-width, --quiet, --save),
declared once as Params, and how a Param is declared to Typer. Nothing heavy is imported: `ntk --help` loads this."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from ntktui.errors import UserError
from ntktui.params import FLAG, INT, TEXT, Param

JSON = Param("json", FLAG, False, help="Print exactly one JSON object on stdout.")
PLOT_WIDTH = Param("plot_width", INT, None, help="Plot width in columns.", lo=20, hi=1000,
                   default_text="the terminal's")
QUIET = Param("quiet", FLAG, False, help="No progress on stderr (errors still print).",
              flags=("--quiet", "-q"))


def _figure_file(path: str, p: Param) -> None:
    """A name ending in .svg, .png or .pdf (light: checked wherever the value is read)."""
    from ntktui.figures import file_format

    try:
        file_format(path)
    except UserError as exc:
        raise p.error(str(exc)) from None


def _figure_target(path: str, p: Param) -> None:
    """matplotlib is installed and the files can be written: checked before any work."""
    from ntktui.figures import INSTALL, available
    from ntktui.studies.shared import writable_file

    if not available():
        raise p.error(f"needs matplotlib, which is not installed: {INSTALL}")
    writable_file(path, p)


SAVE = Param("save", TEXT, None, help="Also save the plots as figures: FILE.svg, FILE.png or "
             "FILE.pdf; several plots are saved as FILE-1.svg, FILE-2.svg, … (needs "
             "pip install 'ntktui[figures]').", unit="file", check=_figure_file,
             lookup=_figure_target)
FRONT_END = (JSON, PLOT_WIDTH, QUIET, SAVE)
# Colour has three states (on, off, as the terminal allows), so it is declared to Typer as is.
COLOR_HELP = ("Colour in plots and tables (default: when the terminal shows it; never in a pipe "
              "or with NO_COLOR). Without colour each series gets its own marker.")
Color = Annotated[Optional[bool], typer.Option("--color/--no-color", help=COLOR_HELP,
                                               show_default=False)]


def _option_kwargs(p: Param) -> dict:
    if p.kind is FLAG:
        return dict(help=p.help, show_default=False, metavar="")
    return dict(help=escape(f"{p.describe()} [default: {p.default_shown()}]"),
                metavar=p.kind.metavar, show_default=False)


def _annotation(p: Param):
    """A flag is a bool; anything else reaches us as the texts given (one per occurrence), for
    the Param to parse: the one parser of option values."""
    return bool if p.kind is FLAG else Optional[List[str]]


def typer_option(p: Param) -> tuple[object, object]:
    """(annotation, default) declaring a Param to Typer in a generated signature."""
    default = bool(p.default) if p.kind is FLAG else None
    return _annotation(p), typer.Option(default, *p.all_flags, **_option_kwargs(p))


def annotated(p: Param):
    """The Param as an Annotated type for a hand-written run() signature (default given there:
    False for a flag, None otherwise)."""
    return Annotated[_annotation(p), typer.Option(*p.all_flags, **_option_kwargs(p))]


def plot_width(given) -> int | None:
    """--plot-width as given to Typer (a list of texts, or None), parsed by its Param."""
    return PLOT_WIDTH.parse(",".join(given)) if given else None


def save_path(given) -> str | None:
    """--save as given to Typer (a list of texts, or None): read by its Param, then checked
    (matplotlib, a writable folder) before anything is computed."""
    if not given:
        return None
    if len(given) > 1:
        raise SAVE.error(f"is given {len(given)} times ({', '.join(map(repr, given))}); it takes "
                         "one value")
    path = SAVE.parse(given[0])
    SAVE.lookup(path, SAVE)
    return path


Json = annotated(JSON)
PlotWidth = annotated(PLOT_WIDTH)
Quiet = annotated(QUIET)
Save = annotated(SAVE)
