"""ntk's front ends: the Typer CLI and the Textual dashboard, sharing one plotext renderer."""

__version__ = "0.1.0"
