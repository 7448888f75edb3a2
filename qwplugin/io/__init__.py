"""File formats with no GL: OpenEXR images and the on-disk rendered-sequence format."""

from qwplugin.io.exr import read_exr, write_exr
from qwplugin.io.sequence import Sequence, SequenceWriter, read_sequence

__all__ = ["Sequence", "SequenceWriter", "read_exr", "read_sequence", "write_exr"]
