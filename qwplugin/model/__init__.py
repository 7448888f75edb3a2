"""QW-Net and the black-box U-Net baseline, built from a :class:`ModelConfig` (see docs/model.md)."""

from qwplugin.model.blackbox import BlackBoxUNet, BlackBoxUNetV1
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.model.qwnet import QWNet
from qwplugin.model.recurrent import reconstruct_step, run_sequence

__all__ = ["BlackBoxUNet", "BlackBoxUNetV1", "ModelConfig", "QWNet", "build_model", "reconstruct_step", "run_sequence"]
