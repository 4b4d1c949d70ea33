"""Every mutant of the reference relying party is live: in the situation its bug is about it
behaves differently from the reference (outcome, identity or the APDUs it sends), and in
situations its bug does not touch it behaves exactly like the reference."""

from __future__ import annotations

import pytest
from rp_helpers import (
    TEXT_AP_SELECT,
    Pki,
    Run,
    certificate,
    encoded_birth_date,
    flipping_signature,
    holder_identity,
    run,
    tearing,
)

from conformance.rp.context import ACCEPTED, REJECTED
from conformance.rp.mutants import MUTANTS
from conformance.rp.reference import build
from simulator import VirtualCard

BRIEF_NAMES = [
    "auto-retry",
    "no-tries-probe",
    "ignores-blocked",
    "no-revocation-check",
    "revocation-fail-open",
    "accepts-expired",
    "accepts-not-yet-valid",
    "expiry-by-date",
    "issuer-by-dn",
    "trusts-card-ca",
    "no-signature-check",
    "ignores-critical-extensions",
    "accepts-any-policy",
    "reads-my-number",
    "success-on-torn",
    "birth-date-misparse",
    "nfkc-identity",
]


def test_the_mutants_are_exactly_the_listed_ones() -> None:
    assert list(MUTANTS) == BRIEF_NAMES
    for name, description in MUTANTS.items():
        assert description and "\n" not in description
        assert type(build(name)) is not None


def both(pki: Pki, mutant: str, *args: object, **kwargs: object) -> tuple[Run, Run]:
    """The same step by the reference and by the mutant, each on a fresh card."""
    return run(pki, *args, **kwargs), run(pki, *args, mutant=mutant, **kwargs)  # type: ignore[arg-type]


def blocked_card(pin: str = "jpki/0018") -> VirtualCard:
    card = VirtualCard.from_persona("default")
    card.power_on()
    card.pins()[pin].set_remaining(0)
    return card


# -- PIN handling ---------------------------------------------------------------------------


def test_auto_retry_spends_a_second_try(pki: Pki) -> None:
    reference, mutant = both(pki, "auto-retry", "default", "login", pin="9999")
    assert len(reference.recorder.pin_verifies()) == 1 and reference.tries("jpki/0018") == 2
    assert len(mutant.recorder.pin_verifies()) == 2 and mutant.tries("jpki/0018") == 1
    assert mutant.outcome.reason == "wrong authentication PIN, 1 try left"


def test_no_tries_probe_sends_no_empty_verify(pki: Pki) -> None:
    reference, mutant = both(pki, "no-tries-probe", "default", "login")
    assert len(reference.recorder.probes()) == 1
    assert mutant.recorder.probes() == []
    assert mutant.outcome.outcome == reference.outcome.outcome == ACCEPTED


def test_no_tries_probe_sends_the_pin_to_a_blocked_card(pki: Pki) -> None:
    mutant = run(pki, "default", "login", mutant="no-tries-probe", card=blocked_card())
    assert len(mutant.recorder.pin_verifies()) == 1


@pytest.mark.parametrize(("flow", "pin"), [("login", "jpki/0018"), ("sign", "jpki/001B")])
def test_ignores_blocked_sends_the_pin_anyway(pki: Pki, flow: str, pin: str) -> None:
    reference = run(pki, "default", flow, card=blocked_card(pin))
    mutant = run(pki, "default", flow, mutant="ignores-blocked", card=blocked_card(pin))
    assert reference.recorder.pin_verifies() == []
    assert len(mutant.recorder.probes()) == 1 and len(mutant.recorder.pin_verifies()) == 1
    assert mutant.outcome.outcome == REJECTED  # the card said 6984: the same verdict, too late


# -- revocation -----------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "flow"), [("key-compromise", "login"),
                                               ("address-changed", "sign")])  # fmt: skip
def test_no_revocation_check_accepts_revoked(pki: Pki, persona: str, flow: str) -> None:
    before = pki.service.state()["requests"]
    reference, mutant = both(pki, "no-revocation-check", persona, flow)
    assert reference.outcome.reason.startswith("revoked (")
    assert mutant.outcome.outcome == ACCEPTED
    after = pki.service.state()["requests"]
    service = "ocsp" if flow == "login" else "crl"
    assert after[service]["total"] == before[service].get("total", 0) + 1  # the reference's


@pytest.mark.parametrize(("flow", "setting"), [
    ("login", {"ocsp": "unavailable"}),
    ("login", {"ocsp": "unknown"}),
    ("login", {"ocsp": "tryLater"}),
    ("login", {"ocsp": "bad-signature"}),
    ("login", {"ocsp": "responder-expired"}),
    ("sign", {"crl": "unavailable"}),
    ("sign", {"crl": "stale"}),
    ("sign", {"crl": "bad-signature"}),
])  # fmt: skip
def test_revocation_fail_open_accepts_an_unknown_status(
    pki: Pki, flow: str, setting: dict[str, str]
) -> None:
    pki.set(**setting)
    reference, mutant = both(pki, "revocation-fail-open", "default", flow)
    assert reference.outcome.outcome == REJECTED
    assert mutant.outcome.outcome == ACCEPTED


def test_revocation_fail_open_still_rejects_revoked(pki: Pki) -> None:
    mutant = run(pki, "key-compromise", "login", mutant="revocation-fail-open")
    assert mutant.outcome.reason == "revoked (keyCompromise)"


# -- validity -------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_accepts_expired(pki: Pki, flow: str) -> None:
    reference, mutant = both(pki, "accepts-expired", "expired", flow)
    assert "expired" in reference.outcome.reason
    assert mutant.outcome.outcome == ACCEPTED
    assert run(pki, "not-yet-valid", flow, mutant="accepts-expired").outcome.outcome == REJECTED


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_accepts_not_yet_valid(pki: Pki, flow: str) -> None:
    reference, mutant = both(pki, "accepts-not-yet-valid", "not-yet-valid", flow)
    assert "not yet valid" in reference.outcome.reason
    assert mutant.outcome.outcome == ACCEPTED
    assert run(pki, "expired", flow, mutant="accepts-not-yet-valid").outcome.outcome == REJECTED


def test_expiry_by_date_accepts_the_rest_of_the_last_utc_day(pki: Pki) -> None:
    import datetime as dt

    not_after = certificate("default", "auth").not_valid_after_utc
    one_second_late = not_after + dt.timedelta(seconds=1)
    reference, mutant = both(pki, "expiry-by-date", "default", "login", now=one_second_late)
    assert "expired" in reference.outcome.reason
    assert mutant.outcome.outcome == ACCEPTED
    next_day = dt.datetime.combine(not_after.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    assert run(pki, now=next_day, mutant="expiry-by-date").outcome.outcome == REJECTED


# -- the chain ------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_issuer_by_dn_picks_the_wrong_generation(pki: Pki, flow: str) -> None:
    """Three roots share the issuer's DN; the first by DN is generation 1, the issuer is 2."""
    reference, mutant = both(pki, "issuer-by-dn", "middle-generation", flow)
    assert reference.outcome.outcome == ACCEPTED
    assert mutant.outcome.outcome == REJECTED
    assert "signature does not verify" in mutant.outcome.reason


@pytest.mark.parametrize(("flow", "slot", "ca_ef"), [("login", "auth", "000B"),
                                                     ("sign", "sign", "0002")])  # fmt: skip
def test_trusts_card_ca_accepts_an_untrusted_issuer(
    pki: Pki, flow: str, slot: str, ca_ef: str
) -> None:
    """The card's issuer (generation 3) is left out of the trusted roots: the reference
    refuses; the mutant takes the CA certificate the card offers (EF 000B / 0002)."""
    issuer_dn = certificate("default", slot).issuer
    roots = pki.roots[slot][:2]  # generations 1 and 2 only
    assert all(root.subject == issuer_dn for root in roots)
    kwargs = {"auth_roots": roots} if slot == "auth" else {"sign_roots": roots}
    reference, mutant = both(pki, "trusts-card-ca", "default", flow, **kwargs)
    assert reference.outcome.outcome == REJECTED
    assert mutant.outcome.outcome == ACCEPTED
    select_ca = bytes.fromhex("00A4020C02" + ca_ef)
    assert select_ca in mutant.apdus and select_ca not in reference.apdus


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_no_signature_check_accepts_a_bad_card_signature(pki: Pki, flow: str) -> None:
    reference, mutant = both(pki, "no-signature-check", "default", flow, wrap=flipping_signature)
    assert reference.outcome.outcome == REJECTED
    assert mutant.outcome.outcome == ACCEPTED


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_ignores_critical_extensions(pki: Pki, flow: str) -> None:
    persona = "unknown-critical-extension"
    reference, mutant = both(pki, "ignores-critical-extensions", persona, flow)
    assert "critical extension" in reference.outcome.reason
    assert mutant.outcome.outcome == ACCEPTED


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_accepts_any_policy(pki: Pki, flow: str) -> None:
    reference, mutant = both(pki, "accepts-any-policy", "production-policy", flow)
    assert "policy" in reference.outcome.reason
    assert mutant.outcome.outcome == ACCEPTED


# -- data and the card ----------------------------------------------------------------------


def test_reads_my_number_reads_the_card_info_ap(pki: Pki) -> None:
    reference, mutant = both(pki, "reads-my-number", "default", "login")
    assert TEXT_AP_SELECT not in reference.apdus
    assert mutant.outcome.outcome == reference.outcome.outcome == ACCEPTED
    after = mutant.apdus[mutant.apdus.index(TEXT_AP_SELECT) :]
    assert after[1] == bytes.fromhex("00A4020C020011")  # the text AP's PIN
    assert after[2][:5] == bytes.fromhex("0020008004")
    assert after[3] == bytes.fromhex("00A4020C020001")  # the My Number
    assert after[4][:2] == bytes.fromhex("00B0")
    assert mutant.tries("text/0011") == 3  # the right PIN: nothing spent, data taken


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_success_on_torn_reports_accepted(pki: Pki, flow: str) -> None:
    reference, mutant = both(pki, "success-on-torn", "default", flow, wrap=tearing(0x2A))
    assert reference.outcome.outcome == REJECTED
    assert mutant.outcome.outcome == ACCEPTED
    torn_early = run(pki, "default", flow, mutant="success-on-torn", wrap=tearing(0xB0))
    assert torn_early.outcome.outcome == REJECTED


@pytest.mark.parametrize("persona", ["default", "era-meiji", "era-taisho", "era-showa",
                                     "era-heisei"])  # fmt: skip
def test_birth_date_misparse(pki: Pki, persona: str) -> None:
    reference, mutant = both(pki, "birth-date-misparse", persona, "sign")
    expected = holder_identity(persona)["birth_date"]
    assert reference.outcome.identity["birth_date"] == expected
    assert mutant.outcome.identity.get("birth_date") != expected
    if mutant.outcome.outcome == REJECTED:  # "31985082": month 50, fails closed
        assert encoded_birth_date(persona) in mutant.outcome.reason


@pytest.mark.parametrize("persona", ["default", "long-name", "substitution-flags", "overseas"])
def test_nfkc_identity_changes_the_name_or_address(pki: Pki, persona: str) -> None:
    reference, mutant = both(pki, "nfkc-identity", persona, "sign")
    assert reference.outcome.identity == holder_identity(persona)
    assert mutant.outcome.outcome == ACCEPTED
    assert mutant.outcome.identity != reference.outcome.identity
    assert mutant.outcome.identity["birth_date"] == reference.outcome.identity["birth_date"]


# -- exactly one behaviour ------------------------------------------------------------------

# (persona, flow, PIN or None for the right one) where most bugs do not matter
NEUTRAL = [
    ("default", "login", None),
    ("renewed", "login", None),
    ("default", "login", "9999"),
    ("default", "sign", "WRONG1"),
    ("under15", "sign", None),
    ("certificate-hold", "sign", None),
    ("renewed-previous", "login", None),
]
# the neutral steps a mutant is expected to change, and why
CHANGES = {
    "auto-retry": {2, 3},  # the wrong PIN is sent twice
    "issuer-by-dn": {0, 1, 5, 6},  # generation 1 comes first in the roots
    "no-revocation-check": {5, 6},  # revoked certificates
}


@pytest.mark.parametrize("mutant", BRIEF_NAMES)
def test_a_mutant_agrees_with_the_reference_elsewhere(pki: Pki, mutant: str) -> None:
    for index, (persona, flow, pin) in enumerate(NEUTRAL):
        reference, broken = both(pki, mutant, persona, flow, pin=pin)
        same = (broken.outcome.outcome, broken.outcome.reason, broken.outcome.identity) == (
            reference.outcome.outcome,
            reference.outcome.reason,
            reference.outcome.identity,
        )
        assert same == (index not in CHANGES.get(mutant, set())), (persona, flow, pin)
