"""A hypothesis state machine of one PIN, driven through a CardChannel against a model.

The model: tries left (learnt from the card's status query at the start), the limit, and
whether the key is verified in the current DF session. Rules: status query, correct and
wrong VERIFY (by SELECT + P2=80 or by SFI), SELECT of another EF (keeps the status),
re-SELECT of the application (keeps it, section 4.3; clears it on a persona with
``reselect_clears_status``), SELECT of another application and back, and reset (clear it),
and an access probe (an operation the PIN opens).
"""

# ruff: noqa: S101
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.channel import CardChannel
from conformance.suites.helpers import query, select_aid, select_ef, tries, verify
from conformance.sw import expect_sw
from conformance.targets import Target

MACHINE_SETTINGS = settings(
    max_examples=10,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass(frozen=True)
class PinUnderTest:
    aid: str
    fid: int  # the PIN EF
    value: bytes
    max_tries: int
    wrong_values: tuple[bytes, ...]
    other_ef: int  # an EF of the same application to select in between
    # sends the operation the PIN opens; returns True when it was allowed (None: no probe)
    probe: Callable[[CardChannel], bool] | None = None
    # the persona's [card] reselect_clears_status: a re-SELECT of the application clears too
    reselect_clears_status: bool = False
    other_aid: str | None = None  # another application of the card (None: the rule is off)


def wrong_values_for(value: bytes) -> tuple[bytes, ...]:
    """Values that are not `value`: last byte changed, one byte short, lower case."""
    last = value[-1:]
    changed = value[:-1] + (b"0" if last != b"0" else b"1")
    candidates = [changed, value[:-1], value + b"0"]
    if value.lower() != value:
        candidates.append(value.lower())
    return tuple(c for c in candidates if c != value and c)


def fresh_channel(target: Target, card: CardChannel) -> CardChannel:
    """A card in its declared state: a new in-process card, else `card` after a restore."""
    if target.kind == "inprocess":
        channel = target.open()
        channel.reset()
        return channel
    target.restore()  # a served mynasim card: counters back to their limits
    card.reset()
    return card


class PinMachine(RuleBasedStateMachine):
    def __init__(self, card: CardChannel, pin: PinUnderTest) -> None:
        super().__init__()
        self.card = card
        self.pin = pin
        self._enter()
        left = tries(query(card, 0x80 | pin.fid))
        assert left is not None, "the status query must answer 63Cx"
        self.remaining = left
        self.verified = False

    def _enter(self) -> None:
        expect_sw(select_aid(self.card, self.pin.aid), 0x9000)

    @rule()
    def status_query(self) -> None:
        expect_sw(query(self.card, 0x80 | self.pin.fid), 0x63C0 | self.remaining)

    @rule(by_sfi=st.booleans())
    def verify_correct(self, by_sfi: bool) -> None:
        sw = self._verify(self.pin.value, by_sfi)
        if self.remaining == 0:
            expect_sw(sw, 0x6984)
            return
        expect_sw(sw, 0x9000)
        self.remaining = self.pin.max_tries
        self.verified = True

    @rule(index=st.integers(min_value=0, max_value=7), by_sfi=st.booleans())
    def verify_wrong(self, index: int, by_sfi: bool) -> None:
        value = self.pin.wrong_values[index % len(self.pin.wrong_values)]
        sw = self._verify(value, by_sfi)
        if self.remaining == 0:
            expect_sw(sw, 0x6984)
            return
        self.remaining -= 1
        self.verified = False
        expect_sw(sw, 0x63C0 | self.remaining)

    def _verify(self, value: bytes, by_sfi: bool) -> int:
        if by_sfi:
            return verify(self.card, 0x80 | self.pin.fid, value)
        expect_sw(select_ef(self.card, self.pin.fid), 0x9000)
        return verify(self.card, 0x80, value)

    @rule()
    def select_other_ef(self) -> None:
        expect_sw(select_ef(self.card, self.pin.other_ef), 0x9000)

    @rule()
    def reselect_application(self) -> None:
        self._enter()
        if self.pin.reselect_clears_status:
            self.verified = False

    @precondition(lambda self: self.pin.other_aid is not None)
    @rule()
    def other_application_and_back(self) -> None:
        expect_sw(select_aid(self.card, self.pin.other_aid or ""), 0x9000)
        self._enter()
        self.verified = False

    @rule()
    def reset(self) -> None:
        self.card.reset()
        self._enter()
        self.verified = False

    @invariant()
    def access_matches_model(self) -> None:
        if self.pin.probe is not None:
            assert self.pin.probe(self.card) == self.verified


def run_pin_machine(channel_factory: Callable[[], CardChannel], pin: PinUnderTest) -> None:
    def factory() -> RuleBasedStateMachine:
        return PinMachine(channel_factory(), pin)

    # hypothesis documents a zero-argument factory as well as the class
    run_state_machine_as_test(factory, settings=MACHINE_SETTINGS)  # type: ignore[arg-type]
