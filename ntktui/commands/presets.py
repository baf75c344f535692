"""The study presets: one per paper figure, each a command with its parameters.

Without an argument, lists the bundled presets (name, title, paper, command); with NAME or
FILE.toml, shows that one: its description, parameters, --quick overrides and the equivalent
command line (a user's own file is checked the same way). Run one with `ntk run NAME`."""

from __future__ import annotations

from typing import Optional

import typer

from ntktui.commands import Json

NAME = "presets"


def run(
    preset: Optional[str] = typer.Argument(None, metavar="[NAME|FILE]",
                                           help="Show one preset (a bundled name or a .toml file)."),
    json: Json = False,
):
    from ntktui import presets

    chosen = [presets.load(preset)] if preset else presets.list_presets()
    if json:
        import json as _json
        import sys

        from ntktui.provenance import provenance

        sys.stdout.write(_json.dumps({"presets": [entry(p) for p in chosen],
                                      "provenance": provenance()}) + "\n")
        return
    if preset:
        show_one(chosen[0])
    else:
        show_list(chosen)


def entry(p) -> dict:
    data = p.to_json()
    return {key: data[key] for key in ("name", "title", "description", "paper", "command",
                                       "params", "quick")} | {"command_line": p.command_line()}


def show_list(items) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Presets (ntk run NAME, --quick for a fast look; ntk presets NAME for details)",
              title_justify="left")
    t.add_column("name", no_wrap=True)  # names are copied into `ntk run NAME`: never broken
    t.add_column("title", ratio=3)
    t.add_column("paper", ratio=2)
    t.add_column("command", no_wrap=True)
    for p in items:
        t.add_row(p.name, p.title, short_paper(p.paper), p.command)
    Console().print(t)


def short_paper(paper: str) -> str:
    """"seed 003 (Lucey, Title), Fig. 3" → "seed 003, Fig. 3": the list names the figure; the
    full reference is in --json and in `ntk presets NAME`."""
    import re

    return re.sub(r"\s*\((?:[^()]|\([^()]*\))*\)", "", paper, count=1)


def show_one(p) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(p.name)}[/bold]: {escape(p.title)}")
    console.print(f"[dim]{escape(p.paper)}[/dim]")
    console.print(escape(p.description))
    t = Table(title=f"ntk {p.command}", title_justify="left")
    t.add_column("parameter")
    t.add_column("value")
    t.add_column("--quick")
    for key in dict.fromkeys([*p.params, *p.quick]):
        t.add_row(key, _text(p.params.get(key, "(default)")), _text(p.quick.get(key, "")))
    console.print(t)
    console.print(escape(p.command_line()), soft_wrap=True)
    if p.quick:
        console.print(escape(p.command_line(quick=True)) + "  [dim](--quick)[/dim]", soft_wrap=True)
    console.print(f"[dim]{escape(str(p.source))}[/dim]", soft_wrap=True)


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
