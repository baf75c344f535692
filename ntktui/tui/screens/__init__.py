"""Screens of the dashboard."""

from ntktui.tui.screens.browser import BrowserScreen
from ntktui.tui.screens.params import ParamsScreen
from ntktui.tui.screens.study import StudyScreen

__all__ = ["BrowserScreen", "ParamsScreen", "StudyScreen"]
