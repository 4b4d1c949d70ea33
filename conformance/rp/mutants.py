"""Deliberately broken relying parties: the reference with exactly one classic bug each.

The relying-party harness must catch every one of them (a mutant it passes shows a gap in
the scenarios or the oracles). Each mutant overrides one method of
:class:`~conformance.rp.reference.RelyingParty` or of
:class:`~conformance.rp.validation.CertificateValidator`; everything else is the reference.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence

from cryptography import x509

from conformance.rp.context import ACCEPTED, StepOutcome
from conformance.rp.identity import IdentityError
from conformance.rp.reference import (
    AUTH,
    SW_OK,
    Card,
    CardTransportError,
    RelyingParty,
    Slot,
    certificate_from,
)
from conformance.rp.validation import CertificateValidator, Purpose, RevocationUnknownError

TEXT_AID = bytes.fromhex("D3921000310001010408")  # 券面事項入力補助AP
TEXT_PIN = 0x0011
TEXT_MY_NUMBER = 0x0001
INS_COMPUTE_DIGITAL_SIGNATURE = 0x2A

MUTANTS: dict[str, str] = {
    "auto-retry": "after a VERIFY answered 63Cx, sends the same PIN once more",
    "no-tries-probe": "never sends the data-less VERIFY that reads the tries left",
    "ignores-blocked": "ignores a blocked probe answer (6984/63C0) and sends the PIN anyway",
    "no-revocation-check": "skips OCSP and CRL entirely",
    "revocation-fail-open": "treats a revocation status it cannot establish as good",
    "accepts-expired": "skips the notAfter check",
    "accepts-not-yet-valid": "skips the notBefore check",
    "expiry-by-date": "compares notAfter by calendar date, not by instant",
    "issuer-by-dn": "picks the first trusted root whose DN is the issuer DN (ignores the AKI)",
    "trusts-card-ca": "validates against the CA certificate read from the card, not the roots",
    "no-signature-check": "does not verify the signature the card returns",
    "ignores-critical-extensions": "accepts unknown critical extensions",
    "accepts-any-policy": "skips the certificate-policy check",
    "reads-my-number": "login also reads the My Number from the card-info AP (not needed)",
    "success-on-torn": "reports accepted when the card goes away during the signature",
    "birth-date-misparse": "reads the birth date as YYYYMMDD from its first 8 digits (era digit)",
    "nfkc-identity": "NFKC-normalises the extracted name and address",
}


# -- PIN handling ---------------------------------------------------------------------------


class AutoRetry(RelyingParty):
    def present_pin(self, card: Card, secret: bytes) -> int:
        sw = card.verify(secret)
        if sw & 0xFFF0 == 0x63C0:
            sw = card.verify(secret)  # "maybe the card misread it": spends another try
        return sw


class NoTriesProbe(RelyingParty):
    def check_not_blocked(self, card: Card, slot: Slot) -> None:
        pass


class IgnoresBlocked(RelyingParty):
    def check_not_blocked(self, card: Card, slot: Slot) -> None:
        card.verify(None)  # asks, and does not listen


# -- the card's answers ---------------------------------------------------------------------


class TrustsCardCa(RelyingParty):
    def trust_anchors(
        self, card: Card, slot: Slot, roots: Sequence[x509.Certificate]
    ) -> Sequence[x509.Certificate]:
        der = card.read_der(slot.ca)
        return [] if der is None else [certificate_from(der, "CA certificate")]


class NoSignatureCheck(RelyingParty):
    def check_card_signature(
        self, certificate: x509.Certificate, signature: bytes, message: bytes
    ) -> None:
        pass


class ReadsMyNumber(RelyingParty):
    def login(
        self,
        card: Card,
        pin: str,
        now: dt.datetime,
        roots: Sequence[x509.Certificate],
        challenge: bytes,
    ) -> StepOutcome:
        outcome = super().login(card, pin, now, roots, challenge)
        # "while we are at it": the login needs none of this
        if card.select_application(TEXT_AID) == SW_OK and card.select_ef(TEXT_PIN) == SW_OK:
            if card.verify(self.checked_secret(pin, AUTH)) == SW_OK:
                card.select_ef(TEXT_MY_NUMBER)
                card.read_binary(0, 17)
        return outcome


class SuccessOnTorn(RelyingParty):
    def transport_failed(self, error: CardTransportError) -> StepOutcome:
        if error.ins == INS_COMPUTE_DIGITAL_SIGNATURE:
            return StepOutcome(ACCEPTED, "signature made")
        return super().transport_failed(error)


# -- identity ---------------------------------------------------------------------------------


class BirthDateMisparse(RelyingParty):
    def birth_date(self, value: str) -> dt.date:
        try:
            return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            raise IdentityError(f"birth date {value!r} does not parse") from None


class NfkcIdentity(RelyingParty):
    def identity(self, certificate: x509.Certificate) -> dict[str, str]:
        identity = super().identity(certificate)
        for field in ("name", "address"):
            identity[field] = unicodedata.normalize("NFKC", identity[field])
        return identity


# -- certificate validation -------------------------------------------------------------------


class NoRevocationCheck(CertificateValidator):
    def check_revocation(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        now: dt.datetime,
        purpose: Purpose,
    ) -> None:
        pass


class RevocationFailOpen(CertificateValidator):
    def check_revocation(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        now: dt.datetime,
        purpose: Purpose,
    ) -> None:
        try:
            super().check_revocation(certificate, issuer, now, purpose)
        except RevocationUnknownError:
            pass  # "the responder is down, the certificate is probably fine"


class AcceptsExpired(CertificateValidator):
    def expired(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        return False


class AcceptsNotYetValid(CertificateValidator):
    def not_yet_valid(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        return False


class ExpiryByDate(CertificateValidator):
    def expired(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        return not now.date() <= certificate.not_valid_after_utc.date()


class IssuerByDn(CertificateValidator):
    def find_issuer(
        self, certificate: x509.Certificate, anchors: Sequence[x509.Certificate]
    ) -> x509.Certificate | None:
        for root in anchors:
            if root.subject == certificate.issuer:
                return root
        return None


class IgnoresCriticalExtensions(CertificateValidator):
    def check_critical_extensions(self, certificate: x509.Certificate) -> None:
        pass


class AcceptsAnyPolicy(CertificateValidator):
    def check_policy(self, certificate: x509.Certificate, purpose: Purpose) -> None:
        pass


_BUILDERS: dict[str, Callable[[], RelyingParty]] = {
    "auto-retry": AutoRetry,
    "no-tries-probe": NoTriesProbe,
    "ignores-blocked": IgnoresBlocked,
    "no-revocation-check": lambda: RelyingParty(NoRevocationCheck()),
    "revocation-fail-open": lambda: RelyingParty(RevocationFailOpen()),
    "accepts-expired": lambda: RelyingParty(AcceptsExpired()),
    "accepts-not-yet-valid": lambda: RelyingParty(AcceptsNotYetValid()),
    "expiry-by-date": lambda: RelyingParty(ExpiryByDate()),
    "issuer-by-dn": lambda: RelyingParty(IssuerByDn()),
    "trusts-card-ca": TrustsCardCa,
    "no-signature-check": NoSignatureCheck,
    "ignores-critical-extensions": lambda: RelyingParty(IgnoresCriticalExtensions()),
    "accepts-any-policy": lambda: RelyingParty(AcceptsAnyPolicy()),
    "reads-my-number": ReadsMyNumber,
    "success-on-torn": SuccessOnTorn,
    "birth-date-misparse": BirthDateMisparse,
    "nfkc-identity": NfkcIdentity,
}


def build_mutant(name: str) -> RelyingParty:
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise ValueError(f"unknown mutant {name!r}; the mutants are {', '.join(MUTANTS)}") from None
