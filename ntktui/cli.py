"""The `ntk` command line: one command per analysis in the registry (ntktui.studies), generated
from its declared parameters, and the tool commands (presets, run, tui, devices). Heavy imports
(JAX, the engine) happen inside commands, never here, so `ntk --help` answers at once.

Every analysis option reaches Typer as text and is read by its Param (ntktui.params): one parser
for the command line, presets, the dashboard's form and Python. Flags stay flags."""

from __future__ import annotations

import inspect
import os
import sys

import typer

from ntktui import __version__, studies
from ntktui.commands import (DISTRIBUTED, FRONT_END, Color, devices, join_processes, launch,
                             plot_width, presets, run, save_path, tui, typer_option)

TOOLS = (presets, run, tui, devices, launch)


def reflow(doc: str | None) -> str | None:
    """Docstring paragraphs as single lines, so that the help wraps to the terminal's width."""
    if not doc:
        return doc
    paragraphs = [" ".join(p.split()) for p in doc.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def analysis_command(study: studies.Study):
    """The Typer callback of `ntk NAME`: its signature is the study's Params and the front end's."""

    def command(**given):
        from ntktui.output import analysed, deliver

        as_json, quiet, color = bool(given.pop("json")), bool(given.pop("quiet")), \
            given.pop("color")
        width = plot_width(given.pop("plot_width"))
        save = save_path(given.pop("save"))
        if study.distributed:
            join_processes(given)  # before the checks: the memory check reads the devices
            from engine import distributed

            if not distributed.is_main():  # its share of the work; process 0 prints
                analysed(study, study.from_texts(given), quiet=True)
                return
        deliver(study, study.from_texts(given), as_json, width, quiet=quiet, color=color,
                save=save)

    parameters = []
    for p in (*study.params, *FRONT_END, *(DISTRIBUTED if study.distributed else ())):
        annotation, default = typer_option(p)
        parameters.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=annotation))
    parameters.append(inspect.Parameter("color", inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Color))
    command.__signature__ = inspect.Signature(parameters)
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = study.name
    command.__doc__ = study.help
    return command


def _version(value: bool):
    if value:
        typer.echo(f"ntk (ntktui) {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
):
    pass


def make_app() -> typer.Typer:
    """The `ntk` app: a command per analysis in the registry, then the tool commands."""
    app = typer.Typer(
        name="ntk",
        help="Spectra of neural networks in the terminal: Jacobian singular values, gradient "
        "descent as a shrinkage mask, empirical and infinite-width NTK.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for study in studies.all_studies():
        app.command(study.name, help=reflow(study.help))(analysis_command(study))
    for module in TOOLS:
        app.command(module.NAME, help=reflow(module.__doc__))(module.run)
    app.callback()(_root)
    return app


app = make_app()


def _fail(message: str, code: int) -> int:
    global _last_error
    _last_error = message
    sys.stderr.write(f"ntk: error: {message}\n")
    return code


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's warning as one line, without its source path (stdout stays data)."""
    sys.stderr.write(f"ntk: warning: {' '.join(str(message).split())}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; bad input is one line on stderr with code 2."""
    import warnings

    warnings.showwarning = _warning_line
    import shlex

    from ntktui import provenance

    provenance.INVOCATION = "ntk " + shlex.join(sys.argv[1:] if argv is None else argv)

    code = _run(argv)
    from engine import distributed

    session = distributed.current()
    if session is not None:  # several processes: leave together, or tell the others why not
        if code == 0:
            session.finish()
        else:
            session.fail(_last_error or f"exit code {code}", code)
    return code


_last_error: str | None = None


def _run(argv) -> int:
    from engine.errors import EngineError
    from ntktui.errors import UserError

    command = typer.main.get_command(make_app())  # from the registry as it is now
    try:
        code = command.main(args=argv, prog_name="ntk", standalone_mode=False)
    except (EngineError, UserError) as exc:
        return _fail(str(exc), 2)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        # Typer's own exceptions (vendored click in new Typer, click in old) are matched by shape.
        if type(exc).__name__ == "Abort":
            return _interrupted()
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            hint = f" (see 'ntk {ctx.info_name} --help')" if ctx is not None and ctx.parent else ""
            return _fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
        from engine import distributed

        lost = distributed.explain(exc)
        if lost is not None:  # a collective with a peer that ended or vanished
            return _fail(lost, distributed.EXIT_PEER)
        if os.environ.get("NTK_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (set NTK_DEBUG=1 for details)", 1)
    if code == 130:  # Typer turns Ctrl-C into a silent exit code 130
        return _interrupted()
    return code if isinstance(code, int) else 0


def _interrupted() -> int:
    global _last_error
    _last_error = "interrupted"
    sys.stderr.write("ntk: interrupted\n")
    return 130


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":
    entry()
