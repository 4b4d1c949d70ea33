"""The scenario catalogue: stable IDs, setups that match the personas, the generated doc."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509

from conformance.rp.scenarios import (
    BY_ID,
    CATALOGUE,
    CATCHES,
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    catalogue_markdown,
    parse_instant,
    select,
)
from simulator.personalization.persona import load_persona
from simulator.revocation.failures import CrlMode, OcspMode

ROOT = Path(__file__).resolve().parents[3]


def test_ids_are_unique_stable_and_in_order() -> None:
    ids = [s.id for s in CATALOGUE]
    assert len(ids) == len(set(ids))
    for sid in ids:
        assert re.fullmatch(r"RP-(PIN|CERT|REV|DATA|TEAR)-\d{3}", sid), sid
    for area in ("PIN", "CERT", "REV", "DATA", "TEAR"):
        numbers = [int(s.split("-")[2]) for s in ids if s.split("-")[1] == area]
        assert numbers == list(range(1, len(numbers) + 1)), area


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.id)
def test_each_scenario_is_well_formed(scenario: object) -> None:
    from conformance.rp.scenarios import Scenario

    assert isinstance(scenario, Scenario)
    load_persona(scenario.persona)
    assert scenario.flows and set(scenario.flows) <= {"login", "sign"}
    for step in scenario.steps:
        assert set(step.expect) >= set(scenario.flows), (scenario.id, step)
        assert step.typed in ("right", "wrong") and step.because
    assert scenario.ocsp in {m.value for m in OcspMode}
    assert scenario.crl in {m.value for m in CrlMode}
    assert set(scenario.remaining) <= {"auth", "sign"}
    assert scenario.instant.tzinfo is dt.UTC
    assert scenario.purpose and scenario.user and scenario.references


def test_the_boundary_clocks_are_the_default_certificates_own() -> None:
    persona = load_persona("default")
    for der in (persona.auth.certificate, persona.sign.certificate):
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        assert cert.not_valid_after_utc == parse_instant(DEFAULT_NOT_AFTER)
        assert cert.not_valid_before_utc == parse_instant(DEFAULT_NOT_BEFORE)
    assert BY_ID["RP-CERT-003"].instant == parse_instant(DEFAULT_NOT_AFTER)
    assert BY_ID["RP-CERT-004"].instant - parse_instant(DEFAULT_NOT_AFTER) == dt.timedelta(
        seconds=1
    )
    assert parse_instant(DEFAULT_NOT_BEFORE) - BY_ID["RP-CERT-005"].instant == dt.timedelta(
        seconds=1
    )


def test_the_issue_s_minimum_situations_are_all_there() -> None:
    personas = {s.persona for s in CATALOGUE}
    assert {
        "expired", "not-yet-valid", "address-changed", "middle-generation", "other-hierarchy",
        "substitution-flags", "long-name", "overseas", "era-meiji", "under15", "android", "ios",
    } <= personas  # fmt: skip
    assert any(s.ocsp == "unknown" for s in CATALOGUE)
    assert any(s.ocsp == "unavailable" for s in CATALOGUE)
    assert any(step.removal and step.removal.ins == "2A" for s in CATALOGUE for step in s.steps)
    assert any(step.fault and step.fault.kind == "delay" for s in CATALOGUE for step in s.steps)
    assert any(step.fault and step.fault.kind == "flip" for s in CATALOGUE for step in s.steps)


def test_every_mutant_has_a_catching_scenario_of_a_right_flow() -> None:
    from conformance.rp.mutants import MUTANTS

    assert set(CATCHES) == set(MUTANTS)
    for name, (sid, flow) in CATCHES.items():
        assert flow in BY_ID[sid].flows, name


def test_select() -> None:
    assert select(None) == list(CATALOGUE)
    assert [s.id for s in select(["rp-pin-003"])] == ["RP-PIN-003"]
    assert {s.id for s in select(["RP-REV"])} == {s.id for s in CATALOGUE if "-REV-" in s.id}
    with pytest.raises(ValueError, match="no scenario matches 'RP-NOPE'"):
        select(["RP-NOPE"])


def test_naive_clocks_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_instant("2026-11-27T03:00:00")


def test_the_committed_catalogue_document_is_current() -> None:
    path = ROOT / "conformance" / "rp" / "SCENARIOS.md"
    assert path.read_text(encoding="utf-8") == catalogue_markdown(), (
        "regenerate: python -c 'from conformance.rp.scenarios import catalogue_markdown; "
        'open("conformance/rp/SCENARIOS.md", "w").write(catalogue_markdown())\''
    )
