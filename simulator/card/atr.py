"""ATR constants (jpki-card-reference.md section 1)."""

from __future__ import annotations

# The only ATR in OpenSC's jpki_atrs table: T=1, no historical bytes.
DEFAULT_ATR = bytes.fromhex("3BE000FF8131FE4514")
