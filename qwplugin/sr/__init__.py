"""Spatial super-resolution: AsConvSR (:mod:`qwplugin.sr.asconvsr`), its dispatch-level MAC count
(:mod:`qwplugin.sr.macs`) and its trainer (``python -m qwplugin.sr.train``). See docs/sr_methods.md."""
