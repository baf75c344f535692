"""Widgets of the dashboard."""

from ntktui.tui.widgets.plot_view import PlotView
from ntktui.tui.widgets.report_view import ReportView, TableBlock
from ntktui.tui.widgets.status import StatusLine

__all__ = ["PlotView", "ReportView", "StatusLine", "TableBlock"]
