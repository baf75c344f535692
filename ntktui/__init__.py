"""ntk's front ends: the Typer CLI and the Textual dashboard, sharing one renderer (render.py)."""

__version__ = "0.1.0"
