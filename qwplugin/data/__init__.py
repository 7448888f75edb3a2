"""Datasets for training and evaluation: the index (``index.json``), augmentations, the torch-side
dataset, and a renderer-free synthetic generator for tests (rendered datasets come from
``python -m engine_bridge.dataset``)."""
