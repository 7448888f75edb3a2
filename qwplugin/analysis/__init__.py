"""Cost analysis of model configurations: ``python -m qwplugin.analysis --config paper --size 1920x1080``."""

from qwplugin.analysis.macs import MacReport, MacRow, format_markdown, mac_report

__all__ = ["MacReport", "MacRow", "format_markdown", "mac_report"]
