"""Property-based PIN lifecycle: the card against a model, for both JPKI PINs.

Rules: right value, wrong value, status query, power cycle, application reselect (keeps
the status, or clears it on a persona with reselect_clears_status), a SELECT of another
application and back (clears it), EF selects, CHANGE REFERENCE DATA, and signing (allowed
exactly when verified).
"""

from __future__ import annotations

import dataclasses
import functools

from card_helpers import JPKI_AID, tx
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from simulator import VirtualCard, load_persona
from simulator.personalization.persona import Persona

DIGEST_INFO = "3031300D060960864801650304020105000420" + "AB" * 32
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TEXT_AID = "D3921000310001010408"


@functools.cache
def _persona(reselect_clears_status: bool = False) -> Persona:
    persona = load_persona("default")
    return dataclasses.replace(persona, reselect_clears_status=reselect_clears_status)


class JpkiPinMachine(RuleBasedStateMachine):
    reselect_clears_status = False
    pin_fid = 0x0018
    key_fid = 0x0017
    new_values: st.SearchStrategy[bytes] = st.text("0123456789", min_size=4, max_size=4).map(
        str.encode
    )

    def __init__(self) -> None:
        super().__init__()
        persona = _persona(self.reselect_clears_status)
        spec = persona.auth_pin if self.pin_fid == 0x0018 else persona.sign_pin
        self.card = VirtualCard(persona)
        self.card.power_on()
        self._select_jpki()
        self.value = spec.value
        self.limit = spec.max_tries
        self.remaining = spec.remaining
        self.verified = False

    # -- helpers -------------------------------------------------------------
    def _select_jpki(self) -> None:
        assert tx(self.card, "00A4040C0A" + JPKI_AID.hex())[1] == 0x9000

    def _verify(self, value: bytes) -> int:
        assert tx(self.card, f"00A4020C02{self.pin_fid:04X}")[1] == 0x9000
        return tx(self.card, f"00200080{len(value):02X}{value.hex()}")[1]

    # -- rules ---------------------------------------------------------------
    @rule()
    def verify_right(self) -> None:
        sw = self._verify(self.value)
        if self.remaining == 0:
            assert sw == 0x6984
        else:
            assert sw == 0x9000
            self.remaining = self.limit
            self.verified = True

    @rule(value=st.binary(min_size=1, max_size=16))
    def verify_wrong(self, value: bytes) -> None:
        assume(value != self.value)
        sw = self._verify(value)
        if self.remaining == 0:
            assert sw == 0x6984
        else:
            self.remaining -= 1
            assert sw == 0x63C0 | self.remaining
        self.verified = False

    @rule()
    def query(self) -> None:
        assert tx(self.card, f"00A4020C02{self.pin_fid:04X}")[1] == 0x9000
        assert tx(self.card, "00200080")[1] == 0x63C0 | self.remaining

    @rule()
    def power_cycle(self) -> None:
        self.card.power_off()
        self.card.power_on()
        self._select_jpki()
        self.verified = False

    @rule()
    def reselect(self) -> None:
        self._select_jpki()
        if self.reselect_clears_status:
            self.verified = False

    @rule()
    def other_application_and_back(self) -> None:
        assert tx(self.card, "00A4040C0A" + TEXT_AID)[1] == 0x9000
        self._select_jpki()
        self.verified = False

    @rule(fid=st.sampled_from([0x000A, 0x000B, 0x0002, 0x0006, 0x0008, 0x0018, 0x001B]))
    def select_other_ef(self, fid: int) -> None:
        assert tx(self.card, f"00A4020C02{fid:04X}")[1] == 0x9000

    @rule(new=st.deferred(lambda: JpkiPinMachine.new_values))
    def change(self, new: bytes) -> None:
        self._change(new)

    def _change(self, new: bytes) -> None:
        assert tx(self.card, f"00A4020C02{self.pin_fid:04X}")[1] == 0x9000
        sw = tx(self.card, f"00240180{len(new):02X}{new.hex()}")[1]
        if not self.verified:
            assert sw == 0x6982
        else:
            assert sw == 0x9000
            self.value = new
            self.remaining = self.limit

    @rule()
    def sign(self) -> None:
        assert tx(self.card, f"00A4020C02{self.key_fid:04X}")[1] == 0x9000
        data, sw = tx(self.card, f"802A008033{DIGEST_INFO}00")
        assert sw == (0x9000 if self.verified else 0x6982)
        assert len(data) == (256 if self.verified else 0)

    @invariant()
    def counter_in_range(self) -> None:
        pin_key = "jpki/0018" if self.pin_fid == 0x0018 else "jpki/001B"
        record = self.card._store.get(pin_key)
        assert record is not None and record.remaining == self.remaining


class SignPasswordMachine(JpkiPinMachine):
    pin_fid = 0x001B
    key_fid = 0x001A
    new_values = st.text(UPPER_ALNUM, min_size=6, max_size=16).map(str.encode)

    @rule(new=st.deferred(lambda: SignPasswordMachine.new_values))
    def change(self, new: bytes) -> None:
        self._change(new)


TestAuthenticationPinLifecycle = JpkiPinMachine.TestCase
TestAuthenticationPinLifecycle.settings = settings(
    TestAuthenticationPinLifecycle.settings, stateful_step_count=40
)
TestSigningPasswordLifecycle = SignPasswordMachine.TestCase
TestSigningPasswordLifecycle.settings = settings(
    TestSigningPasswordLifecycle.settings, stateful_step_count=40
)


class ReselectClearsMachine(SignPasswordMachine):
    """The sign password on a persona with reselect_clears_status = true."""

    reselect_clears_status = True


TestReselectClearsStatusLifecycle = ReselectClearsMachine.TestCase
TestReselectClearsStatusLifecycle.settings = settings(
    TestReselectClearsStatusLifecycle.settings, stateful_step_count=40
)
