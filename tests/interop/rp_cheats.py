"""Relying parties that cheat: each claims a login or signature it did not really make.

The evidence oracle must fail every one of them in every scenario that expects acceptance,
while the reference relying party passes. They run as the commands a vendor would wire in:

    python tests/interop/rp_cheats.py KIND FLOW --reader R --challenge HEX --data FILE \\
        [--replay FILE]

KIND:
  always-accept       prints an accepted result and never opens the reader
  certificate-only    reads the authentication certificate, then claims success
  fixed-value         probes the tries, VERIFYs the typed value and signs a fixed value
                      instead of the challenge or document; reports that signature
  replay              probes and VERIFYs, signs nothing, and reports a signature saved
                      from an earlier run (--replay FILE, hex)
  wrong-pin           sends a wrong value of its own, ignores the 63Cx, tries to sign and
                      claims success whatever the card answered

The typed value comes from MYNASIM_PIN and is never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from conformance.pcsc import open_reader
from conformance.rp.reference import AUTH, JPKI_AID, SHA256_DIGEST_INFO, SIGN, Card

KINDS = ("always-accept", "certificate-only", "fixed-value", "replay", "wrong-pin")
WRONG = {"login": b"0000", "sign": b"WRONG0"}
FIXED = b"a value fixed at build time"


def cheat(kind: str, flow: str, card: Card, replay: Path | None) -> bytes | None:
    """Do the kind's part on the card; the signature it will claim, if any."""
    slot = AUTH if flow == "login" else SIGN
    card.select_application(JPKI_AID)
    if kind == "certificate-only":
        card.read_der(AUTH.certificate)
        return None
    card.select_ef(slot.pin)
    card.verify(None)  # the tries, as a careful client does
    typed = os.environ.get("MYNASIM_PIN", "").upper().encode()
    card.verify(WRONG[flow] if kind == "wrong-pin" else typed)
    if kind == "replay":
        return bytes.fromhex(replay.read_text().strip()) if replay else None
    card.select_ef(slot.key)
    signature, _sw = card.compute_signature(SHA256_DIGEST_INFO + hashlib.sha256(FIXED).digest())
    return signature or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("flow", choices=("login", "sign"))
    parser.add_argument("--reader", required=True)
    parser.add_argument("--challenge", help="ignored: that is the cheat")
    parser.add_argument("--data", type=Path, help="ignored: that is the cheat")
    parser.add_argument("--replay", type=Path, help="replay: a signature from an earlier run")
    args = parser.parse_args()
    signature = None
    if args.kind != "always-accept":
        connection, transmit, _reset = open_reader(args.reader)
        try:
            signature = cheat(args.kind, args.flow, Card(transmit), args.replay)
        finally:
            connection.disconnect()
    result: dict[str, object] = {"outcome": "accepted", "reason": f"cheat: {args.kind}"}
    if signature is not None:
        result["signature"] = signature.hex()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
