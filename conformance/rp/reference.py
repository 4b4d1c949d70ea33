"""The reference relying party: a small, correct login (利用者証明) and eKYC signature (署名)
over a JPKI card, written to be read.

It talks to the card only through ``transmit(apdu) -> response data + SW`` (PC/SC through
:func:`conformance.pcsc.open_reader`, or an in-process card), and uses ``cryptography`` and the
standard library for the rest. The card commands come from jpki-card-reference.md, the checks
from jpki-pki-and-relying-parties.md §2 and §5:

login   SELECT JPKI AP; read the authentication certificate (EF 000A; on a phone token it is
        behind the PIN, so read it after VERIFY); probe the PIN's tries with an empty VERIFY
        and stop if it is blocked, WITHOUT sending the PIN; VERIFY the PIN once (a wrong PIN
        is reported with its tries left, never retried); sign DigestInfo(SHA-256(challenge))
        with key EF 0017; verify that signature with the certificate's key; validate the
        certificate (trusted roots, validity, extensions, policy, OCSP).
sign    SELECT JPKI AP; make sure the card has a signature certificate (a child's card has
        none) before asking for the password; probe, VERIFY the password (upper-cased); read
        the signature certificate (EF 0001, behind the password); sign DigestInfo(SHA-256(data))
        with key EF 001A; verify; validate (CRL); extract the basic four information.

An outcome is ``accepted`` only when every step passed. The PIN is never printed, logged or
put into a message. Deliberately broken variants of this class live in :mod:`.mutants`.

Command line (one JSON result line last on stdout; exit 0 accepted, 1 rejected, 2 error)::

    MYNASIM_PIN=1234 python -m conformance.rp.reference login --reader "Virtual PCD 00 00" \\
        --now 2026-11-27T03:00:00Z --auth-roots auth-roots.pem [--challenge HEX]
    python -m conformance.rp.reference sign --pin-stdin --reader R --now ISO8601 \\
        --sign-roots sign-roots.pem --data application.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from conformance.rp.context import (
    ACCEPTED,
    ERROR,
    FLOWS,
    REJECTED,
    Flow,
    StepContext,
    StepOutcome,
    result_line,
)
from conformance.rp.identity import IdentityError, parse_birth_date, read_basic_four
from conformance.rp.validation import (
    AUTHENTICATION,
    SIGNATURE,
    CertificateRejectedError,
    CertificateValidator,
    Purpose,
)

Transmit = Callable[[bytes], bytes]

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_CERTIFICATES_PRESENT = 0x0008  # 3 bytes: sign, auth; 0x00 = that certificate is absent
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

SW_OK = 0x9000
SW_SECURITY_STATUS = 0x6982  # the EF needs a PIN first
SW_PIN_BLOCKED = 0x6983
SW_AUTH_BLOCKED = 0x6984  # "reference data not usable": what the card answers when blocked
SW_FILE_NOT_FOUND = 0x6A82

INS_NAMES = {0xA4: "SELECT", 0xB0: "READ BINARY", 0x20: "VERIFY", 0x2A: "COMPUTE DIGITAL SIGNATURE"}


@dataclass(frozen=True)
class Slot:
    """One JPKI key pair on the card and what goes with it."""

    certificate: int  # EF of the end-entity certificate
    ca: int  # EF of the CA certificate the card carries (never trusted)
    key: int  # EF of the private key
    pin: int  # EF of its PIN
    pin_name: str  # for messages
    pin_format: re.Pattern[str]
    pin_rule: str
    purpose: Purpose


AUTH = Slot(
    certificate=0x000A,
    ca=0x000B,
    key=0x0017,
    pin=0x0018,
    pin_name="authentication PIN",
    pin_format=re.compile(r"[0-9]{4}"),
    pin_rule="4 digits",
    purpose=AUTHENTICATION,
)
SIGN = Slot(
    certificate=0x0001,
    ca=0x0002,
    key=0x001A,
    pin=0x001B,
    pin_name="signing password",
    pin_format=re.compile(r"[A-Z0-9]{6,16}"),
    pin_rule="6 to 16 letters A-Z and digits",
    purpose=SIGNATURE,
)


class StepRejectedError(Exception):
    """The flow stops here: the step is rejected, for the reason in the message."""


class CardTransportError(Exception):
    """The transmit function failed (card removed, reader gone): no response at all."""

    def __init__(self, ins: int, detail: str) -> None:
        self.ins = ins
        name = INS_NAMES.get(ins, f"INS {ins:02X}")
        super().__init__(f"card communication failed during {name}: {detail}")


MAX_RESPONSE_PARTS = 64  # GET RESPONSEs for one command: 64 x 256 bytes is far beyond any EF


def _has_le(apdu: bytes) -> bool:
    """A short case-2 or case-4 command: its last byte is Le."""
    return len(apdu) == 5 or (len(apdu) > 5 and len(apdu) == 6 + apdu[4])


class Card:
    """APDUs over a transmit function; every answer is (data, SW)."""

    def __init__(self, transmit: Transmit) -> None:
        self._transmit = transmit

    def send(self, apdu: bytes) -> tuple[bytes, int]:
        """One command, with the two ISO 7816-4 ways a card may answer in parts: ``6Cxx``
        (wrong Le: the command is sent again with Le = xx) and ``61xx`` (more data: GET
        RESPONSE until the last part comes with the real status word)."""
        data, sw = self._exchange(apdu)
        if sw >> 8 == 0x6C and _has_le(apdu):
            data, sw = self._exchange(apdu[:-1] + bytes([sw & 0xFF]))
        parts = 0
        while sw >> 8 == 0x61 and parts < MAX_RESPONSE_PARTS:
            more, sw = self._exchange(bytes([apdu[0] & 0x80, 0xC0, 0x00, 0x00, sw & 0xFF]))
            data += more
            parts += 1
        return data, sw

    def _exchange(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            response = self._transmit(apdu)
        except Exception as error:  # pyscard, a socket, a powered-off card: all the same here
            ins = apdu[1] if len(apdu) > 1 else 0
            # a VERIFY carries the PIN: keep the transport's message (it might quote it) out
            detail = type(error).__name__ if ins == 0x20 else f"{type(error).__name__}: {error}"
            raise CardTransportError(ins, detail) from None
        if len(response) < 2:
            raise CardTransportError(apdu[1], "response shorter than a status word")
        return response[:-2], int.from_bytes(response[-2:], "big")

    def select_application(self, aid: bytes) -> int:
        return self.send(bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid)[1]

    def select_ef(self, fid: int) -> int:
        return self.send(bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + fid.to_bytes(2, "big"))[1]

    def read_binary(self, offset: int, length: int) -> tuple[bytes, int]:
        """One short READ BINARY of up to 256 bytes (Le 00 = 256)."""
        return self.send(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF]))

    def verify(self, secret: bytes | None) -> int:
        """VERIFY the current PIN EF; without data it only asks for the tries left (63Cx)."""
        apdu = bytes([0x00, 0x20, 0x00, 0x80])
        if secret is not None:
            apdu += bytes([len(secret)]) + secret
        return self.send(apdu)[1]

    def compute_signature(self, digest_info: bytes) -> tuple[bytes, int]:
        """COMPUTE DIGITAL SIGNATURE with the current key EF, PKCS#1 v1.5 over the data."""
        return self.send(bytes([0x80, 0x2A, 0x00, 0x80, len(digest_info)]) + digest_info + b"\0")

    def read_der(self, fid: int) -> bytes | None:
        """The DER object at the start of an EF (the rest is filler); None if it needs a PIN."""
        sw = self.select_ef(fid)
        if sw != SW_OK:
            raise StepRejectedError(f"cannot select EF {fid:04X} (SW {sw:04X})")
        head, sw = self.read_binary(0, 4)
        if sw == SW_SECURITY_STATUS:
            return None
        if sw != SW_OK or len(head) < 4 or head[0] != 0x30:
            raise StepRejectedError(f"EF {fid:04X} holds no certificate (SW {sw:04X})")
        if head[1] < 0x80:
            total = 2 + head[1]
        elif head[1] == 0x81:
            total = 3 + head[2]
        elif head[1] == 0x82:
            total = 4 + int.from_bytes(head[2:4], "big")
        else:
            raise StepRejectedError(f"EF {fid:04X}: unsupported DER length")
        body = head
        while len(body) < total:
            chunk, sw = self.read_binary(len(body), min(256, total - len(body)))
            if sw != SW_OK or not chunk:
                raise StepRejectedError(
                    f"reading EF {fid:04X} failed at offset {len(body)} (SW {sw:04X})"
                )
            body += chunk
        return body[:total]


def certificate_from(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise StepRejectedError(
            f"the {what} read from the card is not an X.509 certificate"
        ) from None


def tries_text(tries: int) -> str:
    return f"{tries} {'try' if tries == 1 else 'tries'} left"


class RelyingParty:
    """The reference flows. Subclasses in :mod:`.mutants` each break one method."""

    def __init__(self, validator: CertificateValidator | None = None) -> None:
        self.validator = validator or CertificateValidator()

    def run(
        self,
        flow: Flow,
        card: Card,
        secret: str,
        now: dt.datetime,
        roots: Sequence[x509.Certificate],
        message: bytes,
    ) -> StepOutcome:
        """One step: ``message`` is the challenge (login) or the document (sign)."""
        try:
            if flow == "login":
                return self.login(card, secret, now, roots, message)
            return self.sign(card, secret, now, roots, message)
        except (StepRejectedError, CertificateRejectedError, IdentityError) as refusal:
            return StepOutcome(REJECTED, str(refusal))
        except ValueError as unreadable:  # cryptography parses extensions lazily: fail closed
            return StepOutcome(REJECTED, f"the card's certificate cannot be parsed: {unreadable}")
        except CardTransportError as error:
            return self.transport_failed(error)

    # -- the two flows ----------------------------------------------------------------------

    def login(
        self,
        card: Card,
        pin: str,
        now: dt.datetime,
        roots: Sequence[x509.Certificate],
        challenge: bytes,
    ) -> StepOutcome:
        secret = self.checked_secret(pin, AUTH)
        self.select_jpki(card)
        der = card.read_der(AUTH.certificate)  # None on phone tokens: readable after the PIN
        self.unlock(card, AUTH, secret)
        if der is None:
            der = card.read_der(AUTH.certificate)
        if der is None:
            raise StepRejectedError("the authentication certificate cannot be read")
        certificate = certificate_from(der, "authentication certificate")
        signature = self.card_signature(card, AUTH, challenge)
        self.check_card_signature(certificate, signature, challenge)
        self.validator.validate(
            certificate, self.trust_anchors(card, AUTH, roots), now, AUTH.purpose
        )
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        subject = str(names[0].value) if names else ""
        identity = {"subject": subject, "serial": format(certificate.serial_number, "x")}
        return StepOutcome(ACCEPTED, "logged in", identity, signature=signature)

    def sign(
        self,
        card: Card,
        password: str,
        now: dt.datetime,
        roots: Sequence[x509.Certificate],
        document: bytes,
    ) -> StepOutcome:
        secret = self.checked_secret(password.upper(), SIGN)  # the card takes upper case only
        self.select_jpki(card)
        self.require_signature_certificate(card)
        self.unlock(card, SIGN, secret)
        der = card.read_der(SIGN.certificate)
        if der is None:
            raise StepRejectedError("the signature certificate cannot be read after the password")
        certificate = certificate_from(der, "signature certificate")
        signature = self.card_signature(card, SIGN, document)
        self.check_card_signature(certificate, signature, document)
        self.validator.validate(
            certificate, self.trust_anchors(card, SIGN, roots), now, SIGN.purpose
        )
        identity = self.identity(certificate)
        return StepOutcome(ACCEPTED, "signature verified", identity, signature=signature)

    # -- card steps -------------------------------------------------------------------------

    @staticmethod
    def checked_secret(value: str, slot: Slot) -> bytes:
        """The PIN as the card compares it; a malformed one never reaches the card."""
        if not slot.pin_format.fullmatch(value):
            raise StepRejectedError(f"the {slot.pin_name} must be {slot.pin_rule} (nothing sent)")
        return value.encode("ascii")

    @staticmethod
    def select_jpki(card: Card) -> None:
        sw = card.select_application(JPKI_AID)
        if sw != SW_OK:
            raise StepRejectedError(f"not a JPKI card: SELECT of the JPKI AP answered {sw:04X}")

    @staticmethod
    def require_signature_certificate(card: Card) -> None:
        """A card without a signature certificate (under 15) is told apart BEFORE the password
        is asked for: EF 0008 says so, and EF 0001 does not exist."""
        if card.select_ef(EF_CERTIFICATES_PRESENT) == SW_OK:
            present, sw = card.read_binary(0, 3)
            if sw == SW_OK and present[:1] == b"\x00":
                raise StepRejectedError("no signature certificate on this card")
        if card.select_ef(SIGN.certificate) == SW_FILE_NOT_FOUND:
            raise StepRejectedError("no signature certificate on this card")

    def unlock(self, card: Card, slot: Slot, secret: bytes) -> None:
        """Select the PIN, make sure it is not blocked, VERIFY it once."""
        sw = card.select_ef(slot.pin)
        if sw != SW_OK:
            raise StepRejectedError(f"cannot select the {slot.pin_name} (SW {sw:04X})")
        self.check_not_blocked(card, slot)
        sw = self.present_pin(card, secret)
        if sw == SW_OK:
            return
        if sw in (SW_PIN_BLOCKED, SW_AUTH_BLOCKED):
            raise StepRejectedError(f"{slot.pin_name} blocked")
        if sw & 0xFFF0 == 0x63C0:
            if sw & 0x000F == 0:
                raise StepRejectedError(f"wrong {slot.pin_name}, 0 tries left: it is now blocked")
            raise StepRejectedError(f"wrong {slot.pin_name}, {tries_text(sw & 0x000F)}")
        raise StepRejectedError(f"VERIFY of the {slot.pin_name} failed (SW {sw:04X})")

    def check_not_blocked(self, card: Card, slot: Slot) -> None:
        """The empty VERIFY costs no try: 63Cx = x tries left, 63C0 or 6984 = blocked."""
        sw = card.verify(None)
        if sw in (0x63C0, SW_PIN_BLOCKED, SW_AUTH_BLOCKED):
            raise StepRejectedError(f"{slot.pin_name} blocked")
        if sw != SW_OK and sw & 0xFFF0 != 0x63C0:
            raise StepRejectedError(f"cannot read the {slot.pin_name} status (SW {sw:04X})")

    def present_pin(self, card: Card, secret: bytes) -> int:
        """VERIFY with the PIN, once: a wrong PIN is reported, never retried."""
        return card.verify(secret)

    def card_signature(self, card: Card, slot: Slot, message: bytes) -> bytes:
        sw = card.select_ef(slot.key)
        if sw != SW_OK:
            raise StepRejectedError(
                f"cannot select the private key EF {slot.key:04X} (SW {sw:04X})"
            )
        signature, sw = card.compute_signature(
            SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        )
        if sw != SW_OK:
            raise StepRejectedError(f"the card refused to sign (SW {sw:04X})")
        return signature

    def check_card_signature(
        self, certificate: x509.Certificate, signature: bytes, message: bytes
    ) -> None:
        """PKCS#1 v1.5 with SHA-256 under the certificate's key: proves the card holds it."""
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise StepRejectedError("the certificate's key is not RSA")
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise StepRejectedError(
                "the card's signature does not verify with its certificate"
            ) from None

    def trust_anchors(
        self, card: Card, slot: Slot, roots: Sequence[x509.Certificate]
    ) -> Sequence[x509.Certificate]:
        """The configured roots, and only they: a CA certificate on the card proves nothing."""
        return roots

    def transport_failed(self, error: CardTransportError) -> StepOutcome:
        """The card went away mid-flow: nothing was proven, so nothing is accepted."""
        return StepOutcome(REJECTED, str(error))

    # -- the basic four information --------------------------------------------------------

    def identity(self, certificate: x509.Certificate) -> dict[str, str]:
        four = read_basic_four(certificate)
        return {
            "name": four.name,
            "address": four.address,
            "birth_date": self.birth_date(four.birth_date).isoformat(),
            "sex": four.sex,
            "name_substitution": four.name_substitution,
            "address_substitution": four.address_substitution,
        }

    def birth_date(self, value: str) -> dt.date:
        return parse_birth_date(value)


# ---------------------------------------------------------------------------- public API


def build(mutant: str | None = None) -> RelyingParty:
    """The reference relying party, or one of :data:`.mutants.MUTANTS`."""
    if mutant is None:
        return RelyingParty()
    from conformance.rp.mutants import build_mutant  # mutants.py subclasses this module

    return build_mutant(mutant)


def run_flow(
    flow: Flow,
    *,
    transmit: Transmit,
    pin: str,
    now: dt.datetime,
    auth_roots: Sequence[x509.Certificate],
    sign_roots: Sequence[x509.Certificate],
    challenge: bytes,
    data: bytes,
    mutant: str | None = None,
) -> StepOutcome:
    """Run one login or signature over ``transmit`` at the instant ``now`` (aware)."""
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {', '.join(FLOWS)}, not {flow!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    party = build(mutant)
    roots = auth_roots if flow == "login" else sign_roots
    message = challenge if flow == "login" else data
    return party.run(flow, Card(transmit), pin, now.astimezone(dt.UTC), roots, message)


def load_roots(path: Path) -> list[x509.Certificate]:
    """A PEM bundle of trusted roots (at least one certificate)."""
    roots = x509.load_pem_x509_certificates(path.read_bytes())
    if not roots:
        raise ValueError(f"{path}: no certificate in the PEM bundle")
    return roots


def run_on_reader(
    flow: Flow,
    *,
    reader: str,
    pin: str,
    now: dt.datetime,
    auth_roots: Path | None,
    sign_roots: Path | None,
    challenge: bytes,
    data_file: Path | None,
    mutant: str | None = None,
) -> StepOutcome:
    """Open the PC/SC reader whose name contains ``reader`` and run the flow on it.
    Setup problems (files, pcscd, no card) are outcome ``error``; nothing raises."""
    start = time.monotonic()
    try:
        roots_file = auth_roots if flow == "login" else sign_roots
        if roots_file is None:
            raise ValueError(f"no trusted roots given for {flow}")
        roots = load_roots(roots_file)
        data = b""
        if flow == "sign":
            if data_file is None:
                raise ValueError("no document to sign")
            data = data_file.read_bytes()
    except (OSError, ValueError) as error:
        return StepOutcome(ERROR, f"setup: {error}", duration=time.monotonic() - start)
    try:
        from conformance.pcsc import open_reader  # pyscard: only when a reader is used

        connection, transmit, _reset = open_reader(reader)
    except Exception as error:  # pcscd down, no such reader, no card, pyscard missing
        reason = f"cannot open reader {reader!r}: {type(error).__name__}: {error}"
        return StepOutcome(ERROR, reason, duration=time.monotonic() - start)
    try:
        outcome = run_flow(
            flow,
            transmit=transmit,
            pin=pin,
            now=now,
            auth_roots=roots if flow == "login" else [],
            sign_roots=roots if flow == "sign" else [],
            challenge=challenge,
            data=data,
            mutant=mutant,
        )
    finally:
        _disconnect(connection)
    outcome.duration = time.monotonic() - start
    return outcome


def _disconnect(connection: Any) -> None:
    try:
        connection.disconnect()
    except Exception:  # noqa: S110 (the card may be gone already; nothing left to do)
        pass


def relying_party(mutant: str | None = None) -> Callable[[StepContext], StepOutcome]:
    """The reference relying party (or a mutant) as a Python adapter for the RP harness."""
    build(mutant)  # an unknown mutant name fails here, not in the middle of a scenario

    def step(context: StepContext) -> StepOutcome:
        return run_on_reader(
            context.flow,
            reader=context.reader,
            pin=context.pin,
            now=context.now,
            auth_roots=context.auth_roots,
            sign_roots=context.sign_roots,
            challenge=context.challenge,
            data_file=context.data_file,
            mutant=mutant,
        )

    return step


# ---------------------------------------------------------------------------- command line

EXIT_CODES = {ACCEPTED: 0, REJECTED: 1, ERROR: 2}
PIN_VARIABLE = "MYNASIM_PIN"


def _instant(text: str) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 instant such as 2026-11-27T03:00:00Z"
        ) from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone: add Z or +09:00")
    return instant.astimezone(dt.UTC)


def _hex(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hexadecimal") from None
    if not value:
        raise argparse.ArgumentTypeError("the challenge must not be empty")
    return value


def _mutant_name(text: str) -> str:
    from conformance.rp.mutants import MUTANTS

    if text not in MUTANTS:
        raise argparse.ArgumentTypeError(
            f"unknown mutant {text!r} (--list-mutants shows the {len(MUTANTS)} names)"
        )
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conformance.rp.reference",
        description=(
            "The mynasim reference relying party: a JPKI login (auth PIN) or eKYC signature "
            "(signing password) on a PC/SC reader. The PIN comes from the environment variable "
            f"{PIN_VARIABLE}, or from one stdin line with --pin-stdin. Prints one JSON result line "
            "last; exit 0 accepted, 1 rejected, 2 error."
        ),
    )
    p.add_argument("flow", nargs="?", choices=FLOWS, help="login or sign")
    p.add_argument("--reader", help="PC/SC reader name (or a part of it)")
    p.add_argument("--now", type=_instant, help="the scenario's instant, e.g. 2026-11-27T03:00:00Z")
    p.add_argument("--auth-roots", type=Path, help="PEM bundle of trusted authentication roots")
    p.add_argument("--sign-roots", type=Path, help="PEM bundle of trusted signature roots")
    p.add_argument(
        "--challenge", type=_hex, help="login: the server's nonce in hex (default random)"
    )
    p.add_argument("--data", type=Path, help="sign: the document to sign")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from one stdin line")
    p.add_argument("--mutant", type=_mutant_name, help="run a deliberately broken variant")
    p.add_argument("--list-mutants", action="store_true", help="list the mutants and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.list_mutants:
        from conformance.rp.mutants import MUTANTS

        for name, description in MUTANTS.items():
            print(f"{name:28} {description}")
        return 0
    if args.flow is None:
        p.error("the flow is required: login or sign")
    for option, value in (("--reader", args.reader), ("--now", args.now)):
        if value is None:
            p.error(f"{option} is required")
    if args.flow == "login" and args.auth_roots is None:
        p.error("login needs --auth-roots")
    if args.flow == "sign" and (args.sign_roots is None or args.data is None):
        p.error("sign needs --sign-roots and --data")
    if args.pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    elif PIN_VARIABLE in os.environ:
        pin = os.environ[PIN_VARIABLE]
    else:
        p.error(f"no PIN: set {PIN_VARIABLE} or pass --pin-stdin")
    outcome = run_on_reader(
        args.flow,
        reader=args.reader,
        pin=pin,
        now=args.now,
        auth_roots=args.auth_roots,
        sign_roots=args.sign_roots,
        challenge=args.challenge if args.challenge is not None else os.urandom(32),
        data_file=args.data,
        mutant=args.mutant,
    )
    line = result_line(outcome.outcome, outcome.reason, outcome.identity, outcome.signature)
    print(line, flush=True)
    return EXIT_CODES[outcome.outcome]


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: mutants.py subclasses the classes
    # of conformance.rp.reference, and their exceptions must be the ones caught here.
    from conformance.rp import reference

    sys.exit(reference.main())
