"""The reference relying party on in-process cards, against the revocation server on
127.0.0.1:35980: every catalogue persona gets the verdict fixtures/personas/CATALOGUE.md states
at the reference date, and the PIN, boundary, revocation-failure and tearing cases.

The expected values come from the persona files (holder data, issuance, revocation), never
from the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rp_helpers import (
    JPKI_SELECT,
    REFERENCE,
    SECOND,
    Pki,
    Transmit,
    certificate,
    flipping_signature,
    holder_identity,
    login_identity,
    revocation_reason,
    run,
    tearing,
)

from conformance.rp.context import ACCEPTED, REJECTED
from conformance.rp.reference import run_flow
from simulator import VirtualCard

# CATALOGUE.md, test mode at 2026-11-27 (None: the card has no signature certificate)
LOGIN_ACCEPTED = [
    "default",
    "under15",
    "android",
    "ios",
    "address-changed",
    "renewed",
    "certificate-hold",
    "middle-generation",
    "substitution-flags",
    "long-name",
    "overseas",
    "era-meiji",
    "era-taisho",
    "era-showa",
    "era-heisei",
    "era-reiwa",
    "foreign-resident",
]
SIGN_ACCEPTED = [
    "default",
    "android",
    "ios",
    "renewed",
    "middle-generation",
    "other-hierarchy",
    "substitution-flags",
    "long-name",
    "overseas",
    "era-meiji",
    "era-taisho",
    "era-showa",
    "era-heisei",
    "foreign-resident",
]
# persona -> a fragment of the reason (revocations: the reason from the persona file)
LOGIN_REJECTED = {
    "expired": "expired",
    "not-yet-valid": "not yet valid",
    "renewed-previous": "revoked",
    "key-compromise": "revoked",
    "other-hierarchy": "not a trusted authentication root",
    "unknown-critical-extension": "critical extension 2.999.1",
    "production-policy": "policy",
}
SIGN_REJECTED = {
    "expired": "expired",
    "not-yet-valid": "not yet valid",
    "address-changed": "revoked",
    "renewed-previous": "revoked",
    "key-compromise": "revoked",
    "certificate-hold": "revoked",
    "unknown-critical-extension": "critical extension 2.999.1",
    "production-policy": "policy",
}


# -- the catalogue ------------------------------------------------------------------------


@pytest.mark.parametrize("persona", LOGIN_ACCEPTED)
def test_login_accepted_with_the_certificate_identity(pki: Pki, persona: str) -> None:
    result = run(pki, persona, "login")
    assert (result.outcome.outcome, result.outcome.reason) == (ACCEPTED, "logged in")
    assert result.outcome.identity == login_identity(persona)


@pytest.mark.parametrize("persona", SIGN_ACCEPTED)
def test_sign_accepted_with_the_basic_four_information_byte_exact(pki: Pki, persona: str) -> None:
    result = run(pki, persona, "sign")
    assert (result.outcome.outcome, result.outcome.reason) == (ACCEPTED, "signature verified")
    assert result.outcome.identity == holder_identity(persona)


@pytest.mark.parametrize(("persona", "reason"), sorted(LOGIN_REJECTED.items()))
def test_login_rejected(pki: Pki, persona: str, reason: str) -> None:
    outcome = run(pki, persona, "login").outcome
    assert outcome.outcome == REJECTED
    assert reason in outcome.reason
    revoked = revocation_reason(persona, "auth")
    if revoked is not None:
        assert outcome.reason == f"revoked ({revoked})"
    assert outcome.identity == {}


@pytest.mark.parametrize(("persona", "reason"), sorted(SIGN_REJECTED.items()))
def test_sign_rejected(pki: Pki, persona: str, reason: str) -> None:
    outcome = run(pki, persona, "sign").outcome
    assert outcome.outcome == REJECTED
    assert reason in outcome.reason
    revoked = revocation_reason(persona, "sign")
    if revoked is not None:
        assert outcome.reason == f"revoked ({revoked})"
    assert outcome.identity == {}


def test_catalogue_lists_cover_every_persona() -> None:
    from simulator.personalization import builtin_personas

    login = set(LOGIN_ACCEPTED) | set(LOGIN_REJECTED)
    sign = set(SIGN_ACCEPTED) | set(SIGN_REJECTED) | {"under15", "era-reiwa"}
    assert login == set(builtin_personas()) == sign


def test_address_changed_sign_is_accepted_before_the_move(pki: Pki) -> None:
    """The revocation takes effect on 2026-04-01 (persona file): a day earlier, the same card
    is accepted, so the verdict follows `now` and the server's clock, not the machine's."""
    loaded_reason = revocation_reason("address-changed", "sign")
    assert loaded_reason == "affiliationChanged"
    from simulator import load_persona

    revocation = load_persona("address-changed").sign.revocation
    assert revocation is not None
    before = run(pki, "address-changed", "sign", now=revocation.revoked_at - dt.timedelta(days=1))
    assert before.outcome.outcome == ACCEPTED
    after = run(pki, "address-changed", "sign", now=revocation.revoked_at + SECOND)
    assert after.outcome.reason == "revoked (affiliationChanged)"


@pytest.mark.parametrize("persona", ["under15", "era-reiwa"])
def test_no_signature_certificate_is_said_without_spending_a_try(pki: Pki, persona: str) -> None:
    result = run(pki, persona, "sign")
    assert result.outcome.outcome == REJECTED
    assert result.outcome.reason == "no signature certificate on this card"
    assert result.recorder.pin_verifies() == [] and result.recorder.probes() == []
    assert result.tries("jpki/001B") == 5


@pytest.mark.parametrize("persona", ["android", "ios"])
def test_phone_token_auth_certificate_is_read_after_the_pin(pki: Pki, persona: str) -> None:
    result = run(pki, persona, "login")
    assert result.outcome.outcome == ACCEPTED
    select_cert = bytes.fromhex("00A4020C02000A")
    positions = [i for i, apdu in enumerate(result.apdus) if apdu == select_cert]
    verify = result.apdus.index(result.recorder.pin_verifies()[0])
    assert len(positions) == 2 and positions[0] < verify < positions[1]


def test_plastic_card_auth_certificate_is_read_before_the_pin(pki: Pki) -> None:
    result = run(pki, "default", "login")
    select_cert = bytes.fromhex("00A4020C02000A")
    assert result.apdus.count(select_cert) == 1
    assert result.apdus.index(select_cert) < result.apdus.index(result.recorder.pin_verifies()[0])


def test_login_apdu_sequence(pki: Pki) -> None:
    """SELECT AP, certificate, probe, one VERIFY, key, one COMPUTE DIGITAL SIGNATURE with a
    SHA-256 DigestInfo of the challenge."""
    result = run(pki, "default", "login")
    assert result.apdus[0] == JPKI_SELECT
    kinds = [apdu[1] for apdu in result.apdus]
    assert kinds.count(0x2A) == 1 and kinds[-1] == 0x2A
    probe, verify = result.recorder.probes(), result.recorder.pin_verifies()
    assert probe == [bytes.fromhex("00200080")]
    assert verify == [bytes.fromhex("0020008004") + b"1234"]
    assert result.apdus.index(probe[0]) < result.apdus.index(verify[0])
    assert result.recorder.signatures()[0][:5] == bytes.fromhex("802A008033")
    assert result.tries("jpki/0018") == 3


def test_sign_password_is_upper_cased(pki: Pki) -> None:
    result = run(pki, "default", "sign", pin="abc123")
    assert result.outcome.outcome == ACCEPTED
    assert result.recorder.pin_verifies() == [bytes.fromhex("0020008006") + b"ABC123"]


# -- PINs ---------------------------------------------------------------------------------


def test_wrong_pin_reports_tries_and_is_not_retried(pki: Pki) -> None:
    result = run(pki, "default", "login", pin="9999")
    assert result.outcome.outcome == REJECTED
    assert result.outcome.reason == "wrong authentication PIN, 2 tries left"
    assert len(result.recorder.pin_verifies()) == 1
    assert result.tries("jpki/0018") == 2
    assert result.recorder.signatures() == []


def test_wrong_signing_password_reports_tries(pki: Pki) -> None:
    result = run(pki, "default", "sign", pin="WRONG1")
    assert result.outcome.reason == "wrong signing password, 4 tries left"
    assert len(result.recorder.pin_verifies()) == 1
    assert result.tries("jpki/001B") == 4


def test_last_try_wrong_says_blocked(pki: Pki) -> None:
    card = VirtualCard.from_persona("default")
    card.power_on()
    card.pins()["jpki/0018"].set_remaining(1)
    result = run(pki, "default", "login", pin="9999", card=card)
    assert result.outcome.reason == "wrong authentication PIN, 0 tries left: it is now blocked"
    assert result.tries("jpki/0018") == 0


def test_one_try_left_after_a_wrong_pin(pki: Pki) -> None:
    card = VirtualCard.from_persona("default")
    card.power_on()
    card.pins()["jpki/0018"].set_remaining(2)
    result = run(pki, "default", "login", pin="9999", card=card)
    assert result.outcome.reason == "wrong authentication PIN, 1 try left"


@pytest.mark.parametrize(("flow", "pin_key", "name"), [
    ("login", "jpki/0018", "authentication PIN"),
    ("sign", "jpki/001B", "signing password"),
])  # fmt: skip
def test_blocked_pin_is_never_sent(pki: Pki, flow: str, pin_key: str, name: str) -> None:
    card = VirtualCard.from_persona("default")
    card.power_on()
    card.pins()[pin_key].set_remaining(0)
    result = run(pki, "default", flow, card=card)
    assert result.outcome.outcome == REJECTED
    assert result.outcome.reason == f"{name} blocked"
    assert len(result.recorder.probes()) == 1
    assert result.recorder.pin_verifies() == []


@pytest.mark.parametrize(("flow", "pin"), [("login", "12345"), ("login", "12a4"), ("sign", "AB1")])
def test_malformed_pin_never_reaches_the_card(pki: Pki, flow: str, pin: str) -> None:
    result = run(pki, "default", flow, pin=pin)
    assert result.outcome.outcome == REJECTED
    assert "nothing sent" in result.outcome.reason
    assert pin not in result.outcome.reason
    assert result.apdus == []


# -- validity boundaries --------------------------------------------------------------------


@pytest.mark.parametrize("slot", ["auth", "sign"])
def test_valid_through_the_last_second_of_not_after(pki: Pki, slot: str) -> None:
    flow = "login" if slot == "auth" else "sign"
    not_after = certificate("default", slot).not_valid_after_utc
    assert run(pki, "default", flow, now=not_after).outcome.outcome == ACCEPTED
    late = run(pki, "default", flow, now=not_after + SECOND).outcome
    assert late.outcome == REJECTED and "expired" in late.reason


@pytest.mark.parametrize("slot", ["auth", "sign"])
def test_not_valid_before_not_before(pki: Pki, slot: str) -> None:
    flow = "login" if slot == "auth" else "sign"
    not_before = certificate("default", slot).not_valid_before_utc
    early = run(pki, "default", flow, now=not_before - SECOND).outcome
    assert early.outcome == REJECTED and "not yet valid" in early.reason
    assert run(pki, "default", flow, now=not_before).outcome.outcome == ACCEPTED


def test_not_after_is_compared_as_an_instant_in_another_timezone(pki: Pki) -> None:
    """23:59:59 JST is the last valid second; 00:00:00 JST the next day is too late."""
    jst = dt.timezone(dt.timedelta(hours=9))
    not_after = certificate("default", "auth").not_valid_after_utc
    assert run(pki, now=not_after.astimezone(jst)).outcome.outcome == ACCEPTED
    assert run(pki, now=(not_after + SECOND).astimezone(jst)).outcome.outcome == REJECTED


def test_a_root_generation_must_be_trusted(pki: Pki) -> None:
    """middle-generation chains to generation 2 only: without it in the roots, no issuer."""
    gen2 = certificate("middle-generation", "auth")
    roots = [root for root in pki.roots["auth"] if root.subject == gen2.issuer]
    assert len(roots) == 3  # one DN, three keys
    without_gen2 = [pki.roots["auth"][0], pki.roots["auth"][2]]
    outcome = run(pki, "middle-generation", "login", auth_roots=without_gen2).outcome
    assert outcome.outcome == REJECTED and "not a trusted authentication root" in outcome.reason


# -- revocation failures --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["unavailable", "unknown", "tryLater", "bad-signature",
                                  "responder-expired"])  # fmt: skip
def test_ocsp_failures_fail_closed(pki: Pki, mode: str) -> None:
    pki.set(ocsp=mode)
    outcome = run(pki, "default", "login").outcome
    assert outcome.outcome == REJECTED
    assert outcome.reason.startswith("revocation status unknown")


@pytest.mark.parametrize("mode", ["unavailable", "stale", "bad-signature"])
def test_crl_failures_fail_closed(pki: Pki, mode: str) -> None:
    pki.set(crl=mode)
    outcome = run(pki, "default", "sign").outcome
    assert outcome.outcome == REJECTED
    assert outcome.reason.startswith("revocation status unknown")
    if mode == "stale":
        assert outcome.reason == "revocation status unknown: CRL stale"


def test_revoked_is_reported_even_from_a_stale_crl(pki: Pki) -> None:
    pki.set(crl="stale")
    outcome = run(pki, "key-compromise", "sign").outcome
    assert outcome.reason == "revoked (keyCompromise)"


def test_ocsp_signed_by_the_ca_itself_is_accepted(pki: Pki) -> None:
    pki.set(responder="ca")
    assert run(pki, "default", "login").outcome.outcome == ACCEPTED
    assert run(pki, "key-compromise", "login").outcome.reason == "revoked (keyCompromise)"


def test_crl_failures_do_not_touch_the_login_nor_ocsp_the_signature(pki: Pki) -> None:
    pki.set(crl="unavailable")
    assert run(pki, "default", "login").outcome.outcome == ACCEPTED
    pki.set(crl="normal", ocsp="unavailable")
    assert run(pki, "default", "sign").outcome.outcome == ACCEPTED


def test_revocation_requests_go_to_the_server(pki: Pki) -> None:
    before = pki.service.state()["requests"]
    run(pki, "default", "login")
    run(pki, "default", "sign")
    after = pki.service.state()["requests"]
    assert after["ocsp"].get("good", 0) == before["ocsp"].get("good", 0) + 1
    assert after["crl"].get("normal", 0) == before["crl"].get("normal", 0) + 1


# -- the card misbehaves --------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_a_wrong_card_signature_is_rejected(pki: Pki, flow: str) -> None:
    outcome = run(pki, "default", flow, wrap=flipping_signature).outcome
    assert outcome.outcome == REJECTED
    assert outcome.reason == "the card's signature does not verify with its certificate"


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_card_pulled_during_the_signature_is_an_outcome(pki: Pki, flow: str) -> None:
    outcome = run(pki, "default", flow, wrap=tearing(0x2A)).outcome
    assert outcome.outcome == REJECTED
    assert outcome.reason.startswith("card communication failed during COMPUTE DIGITAL SIGNATURE")


def test_card_pulled_during_verify_does_not_quote_the_pin(pki: Pki) -> None:
    def wrap(transmit: Transmit) -> Transmit:
        def torn(apdu: bytes) -> bytes:
            if apdu[1] == 0x20 and len(apdu) > 4:
                raise ConnectionError(f"failed to send {apdu.hex()} ({apdu!r})")
            return transmit(apdu)

        return torn

    outcome = run(pki, "default", "login", wrap=wrap).outcome
    assert outcome.outcome == REJECTED
    assert "1234" not in outcome.reason and "31323334" not in outcome.reason


def test_a_powered_off_card_is_an_outcome(pki: Pki) -> None:
    card = VirtualCard.from_persona("default")  # never powered on: transmit raises
    outcome = run(pki, "default", "login", card=card).outcome
    assert outcome.outcome == REJECTED
    assert outcome.reason.startswith("card communication failed during SELECT")


def test_not_a_jpki_card(pki: Pki) -> None:
    outcome = run(pki, "default", "login", wrap=lambda _t: lambda _apdu: b"\x6a\x82").outcome
    assert outcome.outcome == REJECTED and outcome.reason.startswith("not a JPKI card")


def test_run_flow_refuses_a_naive_now_and_an_unknown_mutant(pki: Pki) -> None:
    card = VirtualCard.from_persona("default")
    card.power_on()
    common = {
        "transmit": card.transmit,
        "pin": "1234",
        "auth_roots": pki.roots["auth"],
        "sign_roots": pki.roots["sign"],
        "challenge": b"c",
        "data": b"d",
    }
    with pytest.raises(ValueError, match="timezone"):
        run_flow("login", now=REFERENCE.replace(tzinfo=None), **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown mutant"):
        run_flow("login", now=REFERENCE, mutant="nope", **common)  # type: ignore[arg-type]


# ------------------------------------------- regressions found by `mynasim fuzz rp`


def _answer_in_parts(ins: int, mode: str) -> Callable[[Transmit], Transmit]:
    """The card answers command `ins` once as a legal ISO 7816-4 card may: 61xx with the
    data left for GET RESPONSE, or 6Cxx asking for the command again with another Le."""

    def wrap(transmit: Transmit) -> Transmit:
        state: dict[str, Any] = {"done": False, "withheld": b""}

        def answer(apdu: bytes) -> bytes:
            if apdu[1] == 0xC0 and state["withheld"]:
                data, state["withheld"] = state["withheld"][: apdu[4] or 256], b""
                return data + state["sw"]
            response = transmit(apdu)
            if apdu[1] != ins or state["done"] or len(response) <= 2:
                return response
            state["done"] = True
            if mode == "61":
                state["withheld"], state["sw"] = response[:-2], response[-2:]
                return bytes([0x61, (len(response) - 2) & 0xFF])
            return bytes([0x6C, (len(response) - 2) & 0xFF])

        return answer

    return wrap


@pytest.mark.parametrize("flow", ["login", "sign"])
@pytest.mark.parametrize(("ins", "mode"), [(0x2A, "61"), (0xB0, "61"), (0xB0, "6C"), (0x2A, "6C")])
def test_answers_in_parts_are_followed(pki: Pki, flow: str, ins: int, mode: str) -> None:
    done = run(pki, "default", flow, wrap=_answer_in_parts(ins, mode))
    assert done.outcome.outcome == ACCEPTED, done.outcome.reason
    if mode == "61":
        assert any(apdu[1] == 0xC0 for apdu in done.apdus)


@pytest.mark.parametrize("offset", [0x50, 0x400, 0x500, 0x600])
def test_a_corrupted_certificate_is_rejected_not_raised(pki: Pki, offset: int) -> None:
    """fuzz rp found a ValueError from cryptography's lazy extension parsing escaping."""

    def wrap(transmit: Transmit) -> Transmit:
        def corrupt(apdu: bytes) -> bytes:
            response = transmit(apdu)
            start = (apdu[2] << 8) | apdu[3]
            if apdu[1] == 0xB0 and len(apdu) == 5 and start <= offset < start + len(response) - 2:
                i = offset - start
                response = response[:i] + bytes([response[i] ^ 0xFF]) + response[i + 1 :]
            return response

        return corrupt

    outcome = run(pki, "default", "login", wrap=wrap).outcome
    assert outcome.outcome == REJECTED, outcome
