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
# Several processes (engine.distributed, docs/distributed.md): the kernel commands take these;
# without them the standard environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES,
# JAX_PROCESS_ID) or a SLURM / Open MPI job says how to join, and otherwise there is one process.
COORDINATOR = Param("coordinator", TEXT, None, help="Several processes: process 0's HOST:PORT "
                    "(or JAX_COORDINATOR_ADDRESS).", unit="address",
                    default_text="one process")
NUM_PROCESSES = Param("num_processes", INT, None, help="Several processes: how many (or "
                      "JAX_NUM_PROCESSES).", lo=1, hi=65536, default_text="1")
PROCESS_ID = Param("process_id", INT, None, help="Several processes: this one's index, 0 to "
                   "P − 1 (or JAX_PROCESS_ID); process 0 prints and writes.", lo=0, hi=65535,
                   default_text="0")
SPLIT = Param("split", TEXT, "auto", help="Several processes: share a dense kernel's wide "
              "layers (width) or its rows (rows); auto: width when it fits on every process.",
              choices=("auto", "width", "rows"))
DISTRIBUTED = (COORDINATOR, NUM_PROCESSES, PROCESS_ID, SPLIT)
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


def join_processes(given: dict) -> None:
    """Pop the DISTRIBUTED options from a command's texts and, when they (or the environment, or
    a cluster) ask for several processes, join them before anything touches a device."""
    texts = {p.name: given.pop(p.name) for p in DISTRIBUTED}
    values = {p.name: p.parse(",".join(texts[p.name])) if texts[p.name] else p.default
              for p in DISTRIBUTED}
    from engine import distributed

    distributed.start(distributed.request(values["coordinator"], values["num_processes"],
                                          values["process_id"], values["split"]))


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
