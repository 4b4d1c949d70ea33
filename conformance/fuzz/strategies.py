"""Hypothesis strategies for the card fuzzer: one per command the card knows, raw bytes,
power events, and whole action sequences.

Every strategy is the shared grammar (`conformance.fuzz.grammar`) driven by hypothesis
draws, so hypothesis mode, random mode and atheris mode generate from the same value pools,
and what hypothesis finds shrinks choice by choice. Strategies take the persona's
`CardFacts` (right PIN values come from its PinSpecs) and, optionally, a `SessionModel`
(which application is selected, PIN values changed by the fuzzer).

    from conformance.fuzz.facts import CardFacts
    facts = CardFacts.of(load_persona("default"))
    verify(facts).example()            # e.g. b'\\x00\\x20\\x00\\x98\\x04...'
    sequences(facts).example()         # a list of APDUs and power events
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from conformance.fuzz import grammar
from conformance.fuzz.actions import POWER_EVENTS, Action
from conformance.fuzz.facts import CardFacts
from conformance.fuzz.invariants import SessionModel


class HypothesisChooser:
    """Grammar choices drawn from hypothesis (`st.data()` or a composite's `draw`)."""

    def __init__(self, data: Any) -> None:
        self._draw: Callable[[st.SearchStrategy[Any]], Any] = (
            data.draw if hasattr(data, "draw") else data
        )
        self._integers: dict[tuple[int, int], st.SearchStrategy[int]] = {}
        self._binaries: dict[int, st.SearchStrategy[bytes]] = {}

    def integer(self, low: int, high: int) -> int:
        strategy = self._integers.get((low, high))
        if strategy is None:
            strategy = self._integers[(low, high)] = st.integers(low, high)
        value: int = self._draw(strategy)
        return value

    def raw(self, size: int) -> bytes:
        strategy = self._binaries.get(size)
        if strategy is None:
            strategy = self._binaries[size] = st.binary(min_size=size, max_size=size)
        value: bytes = self._draw(strategy)
        return value


def _model(facts: CardFacts, model: SessionModel | None) -> SessionModel:
    return model if model is not None else SessionModel(facts)


def _command(name: str, facts: CardFacts, model: SessionModel | None) -> st.SearchStrategy[bytes]:
    produce = grammar.COMMANDS[name]

    @st.composite
    def build(draw: Any) -> bytes:
        return produce(HypothesisChooser(draw), _model(facts, model))

    return build()


def select_by_aid(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    """SELECT by DF name: the five My Number AIDs, the ISD, foreign, mutated, random AIDs."""
    return _command("select_by_aid", facts, model)


def select_ef(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    """SELECT EF with the real EF IDs, special and random ones, odd P1/P2/lengths."""
    return _command("select_ef", facts, model)


def read_binary(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    """READ BINARY by offset or SFI, odd offsets, short/extended/absent Le."""
    return _command("read_binary", facts, model)


def read_record(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    return _command("read_record", facts, model)


def verify(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    """VERIFY with the right value, wrong ones, odd lengths, no data (status query)."""
    return _command("verify", facts, model)


def change_reference_data(
    facts: CardFacts, model: SessionModel | None = None
) -> st.SearchStrategy[bytes]:
    """CHANGE REFERENCE DATA (`00 24 01`) and the JICSAP CHANGE KEY (`80 32 00`)."""
    return _command("change_reference_data", facts, model)


def compute_digital_signature(
    facts: CardFacts, model: SessionModel | None = None
) -> st.SearchStrategy[bytes]:
    """`80 2A`: DigestInfos, bare hashes, raw and odd-length data, P1 00-FF, P2 80/SFI/00."""
    return _command("compute_digital_signature", facts, model)


def internal_authenticate(
    facts: CardFacts, model: SessionModel | None = None
) -> st.SearchStrategy[bytes]:
    return _command("internal_authenticate", facts, model)


def get_challenge(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    return _command("get_challenge", facts, model)


def get_data(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    return _command("get_data", facts, model)


def odd_cla(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    """Any command with a CLA of another class, a logical channel or secure messaging."""

    @st.composite
    def build(draw: Any) -> bytes:
        return grammar.odd_cla(HypothesisChooser(draw), _model(facts, model))

    return build()


def unknown_ins(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: Any) -> bytes:
        return grammar.unknown_ins(HypothesisChooser(draw), _model(facts, model))

    return build()


@st.composite
def raw_bytes(draw: Any) -> bytes:
    """0-300 bytes, random or shaped like a (possibly inconsistent) extended APDU."""
    return grammar.raw_bytes(HypothesisChooser(draw))


def power_events() -> st.SearchStrategy[str]:
    return st.sampled_from(POWER_EVENTS)


def actions(facts: CardFacts, model: SessionModel | None = None) -> st.SearchStrategy[list[Action]]:
    """The next action(s) as the grammar weighs them (flows give several)."""

    @st.composite
    def build(draw: Any) -> list[Action]:
        return grammar.next_actions(HypothesisChooser(draw), _model(facts, model))

    return build()


def sequences(facts: CardFacts, max_actions: int = 40) -> st.SearchStrategy[list[Action]]:
    """Action sequences generated without a card (the model stays at power-on: right PIN
    values are the persona's). The fuzzer itself draws step by step against the card."""

    @st.composite
    def build(draw: Any) -> list[Action]:
        chooser = HypothesisChooser(draw)
        model = SessionModel(facts)
        out: list[Action] = []
        while len(out) < max_actions and chooser.integer(0, 9) != 0:
            out += grammar.next_actions(chooser, model)
        return out[:max_actions]

    return build()
