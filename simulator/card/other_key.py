"""The `other-key` response fault: the answer to a COMPUTE DIGITAL SIGNATURE signed with the
OTHER JPKI private key (authentication key EF 0017 <-> signature key EF 001A).

The card computes the real thing: the same scheme (P1) over the same command data, with the
other key of the same card. The answer is a well-formed signature of the right length that
does not verify under the certificate of the key the client chose. The other key's access
condition is deliberately not checked: the fault plays a card that used the wrong key.
Out-of-band, like `VirtualCard.pins()`: the served card's fault engine (`simulator.service.
slot`, `mynasim ctl fault --other-key`) calls it; no APDU reaches it.
"""

from __future__ import annotations

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.applets.jpki import AID as JPKI_AID
from simulator.applets.jpki import KEY_AUTH, KEY_SIGN
from simulator.applets.signing import compute_signature
from simulator.card.card import VirtualCard
from simulator.fs.nodes import KeyFile

INS_COMPUTE_DIGITAL_SIGNATURE = 0x2A
OTHER_KEY = {KEY_AUTH: KEY_SIGN, KEY_SIGN: KEY_AUTH}


def other_key_signature(card: VirtualCard, apdu: bytes) -> bytes | None:
    """The signature the card would have made for `apdu` (a COMPUTE DIGITAL SIGNATURE it has
    just processed) with the other JPKI key, or None when there is none: not that command in
    the JPKI application, a key that is neither 0017 nor 001A, a card without the other key
    (a persona without that certificate), or data the other key refuses. Call it with the
    slot's lock held, before any other command changes the current EF."""
    applet = card.selected
    if applet is None or applet.df.name != JPKI_AID:
        return None
    try:
        command = CommandApdu.parse(apdu)
        if command.ins != INS_COMPUTE_DIGITAL_SIGNATURE:
            return None
        used = applet.key_file(command.p2, card.session)
        other_fid = OTHER_KEY.get(used.fid)
        if other_fid is None:
            return None
        other = applet.df.file(other_fid)
        if not isinstance(other, KeyFile):
            return None
        return compute_signature(other.key, command.p1, command.data)
    except (CardError, ValueError):  # MalformedApduError is a CardError
        return None
