"""ISO 7816-4 file model: a DF (application) holding EFs addressed by FID or SFI."""

from simulator.fs.nodes import (
    DedicatedFile,
    ElementaryFile,
    KeyFile,
    PinFile,
    TransparentFile,
    pad_to,
)

__all__ = [
    "DedicatedFile",
    "ElementaryFile",
    "KeyFile",
    "PinFile",
    "TransparentFile",
    "pad_to",
]
