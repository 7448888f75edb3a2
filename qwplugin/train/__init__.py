"""Training: recurrent QW-Net / U-Net training with the QW-Net losses, QAT, checkpoints, DDP, export.

Entry points: ``python -m qwplugin.train --config FILE`` (:mod:`qwplugin.train.__main__`) and
``python -m qwplugin.train.export`` (shipped weights). See ``docs/training.md``.
"""
