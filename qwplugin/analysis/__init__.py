"""Cost analysis of model configurations: ``python -m qwplugin.analysis --config paper --size 1920x1080``."""

from qwplugin.analysis.macs import MacReport, MacRow, format_markdown, mac_report
from qwplugin.analysis.upscaling import UpscalingCost, format_upscaling_markdown, upscaling_costs

__all__ = ["MacReport", "MacRow", "UpscalingCost", "format_markdown", "format_upscaling_markdown", "mac_report",
           "upscaling_costs"]
