"""pyHanko as a third-party relying party: sign a PDF with the card, then validate it.

    MYNASIM_PIN=ABC123 python -m conformance.rp.pyhanko_rp sign --pdf in.pdf \\
        --module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so --now 2026-11-27T03:00:00Z \\
        --sign-roots sign-roots.pem --out signed.pdf [--reader "Virtual PCD 00 00"]

What it does, in the way a PAdES signing service built on pyHanko would:

1. Opens OpenSC's PKCS#11 module with pyHanko (`pyhanko.sign.pkcs11.open_pkcs11_session`),
   finds the signature token by its label ``JPKI (Digital Signature PIN)`` (pyHanko's
   `TokenCriteria(label=...)`; with `--reader`, also the slot index of that reader) and logs
   in with the password from the environment variable MYNASIM_PIN (C_Login, CKU_USER).
2. `PKCS11Signer(session, key_id=b"\\x02")`: the private key ``Digital Signature Key`` and
   the certificate ``Digital Signature Certificate`` share CKA_ID 02; both are visible only
   after the login (the card's EF 0001 is behind the password, OpenSC reads it then), and
   pyHanko copes with that because it looks them up after opening the logged-in session.
   The key carries CKA_ALWAYS_AUTHENTICATE; OpenSC signs after the session login without a
   context-specific login, so pyHanko's default (no re-authentication) works.
3. Signs `--pdf` (adbe.pkcs7.detached, SHA-256, RSA PKCS#1 v1.5, a new field
   ``MynasimSignature``; the signing time is the scenario clock `--now`) into `--out`.
4. Validates the signed file with pyHanko's validator (`validate_pdf_signature`) and
   pyhanko-certvalidator: trust roots = the certificates in `--sign-roots` only (never the
   system store), validation time `--now`, revocation mode **hard-fail**, fetching allowed:
   the CRL comes from the HTTP URL in the certificate's CRL distribution points (the sign
   certificates name no OCSP responder; if one did, certvalidator would ask it too). The
   PKI server behind those URLs runs on the scenario clock.

Checked: the signature is intact and cryptographically valid; a path from the signer's
certificate to one of the roots (issuer found by name and key, signatures, validity at
`--now` of every certificate, basic constraints, RFC 5280 policy processing with any policy
acceptable, unknown critical extensions refused); key usage nonRepudiation on the signer's
certificate (pyHanko's default for signatures); revocation of the signer's certificate from a
CRL that must be fresh at `--now` (a stale or missing CRL fails: hard-fail); the CRL's
signature. Not checked: that the certificate carries a JPKI (test) policy OID (pyHanko
accepts any policy, so `production-policy` under a trusted root passes); the holder's
identity against anything; OCSP for certificates without an OCSP URL; the document's
content (it signs whatever `--pdf` holds). Identity, reported only when accepted: subject DN
and serial of the signer's certificate. pyHanko does not extract the 4 information, and this
driver does not add our own extraction (that would grade our code, not pyHanko), so the
personal-data scenarios are NOT APPLICABLE to it.

The last line on stdout is a `result_line`: accepted only if pyHanko signed AND its
validation says intact + valid + trusted + not revoked (and its bottom line is VALID);
rejected with pyHanko's reason otherwise (a wrong, short or blocked password, no signature
key or certificate on the card, a failed validation with the certvalidator error); error for
an unexpected exception or a device error (card pulled mid-signature), with the exception
class in the reason. Exit code: 0 accepted, 1 rejected, 2 error. The password never appears
in the output.

pyHanko ships no type information, so it is imported with `importlib` (its objects are
`Any` here); python-pkcs11 is typed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from conformance.rp.context import ACCEPTED, ERROR, REJECTED, result_line
from conformance.rp.pkcs11 import (
    TOKEN_LABELS,
    find_opensc_module,
    outcome_for_exception,
    reader_matches,
    token_state,
)

PIN_VARIABLE = "MYNASIM_PIN"
FIELD_NAME = "MynasimSignature"
EXIT_CODES = {ACCEPTED: 0, REJECTED: 1, ERROR: 2}
PYHANKO_MODULES = (
    "pyhanko.sign.pkcs11",
    "pyhanko.sign.signers",
    "pyhanko.pdf_utils.incremental_writer",
    "pyhanko.pdf_utils.reader",
    "pyhanko.config.pkcs11",
    "pyhanko.sign.validation",
    "pyhanko_certvalidator",
    "pyhanko_certvalidator.fetchers",
    "pyhanko_certvalidator.fetchers.aiohttp_fetchers",
)


@dataclass
class Result:
    outcome: str
    reason: str
    identity: dict[str, str] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _module(name: str) -> Any:
    """A pyHanko module (untyped, so `Any`)."""
    return importlib.import_module(name)


def parse_now(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def load_roots(path: Path) -> list[Any]:
    """The certificates of a PEM (or DER) file as asn1crypto certificates for certvalidator."""
    data = path.read_bytes()
    if not data.strip():
        return []
    if b"-----BEGIN" in data:
        certificates = x509.load_pem_x509_certificates(data)
    else:
        certificates = [x509.load_der_x509_certificate(data)]
    asn1_x509 = importlib.import_module("asn1crypto.x509")
    return [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in certificates]


def slot_index(lib: Any, reader: str, label: str) -> int | None:
    """Index in C_GetSlotList (all slots, as pyHanko counts) of `label` in `reader`."""
    for index, slot in enumerate(lib.get_slots()):
        if not reader_matches(str(slot.slot_description), reader):
            continue
        try:
            if slot.get_token().label.strip() == label:
                return index
        except Exception:  # an empty slot  # noqa: S112
            continue
    return None


class _Capture(logging.Handler):
    """Keeps pyHanko's validation warnings: they carry certvalidator's reason."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            message = getattr(exc, "failure_msg", None) or str(exc)
            self.reasons.append(f"{type(exc).__name__}: {message}")
        else:
            self.reasons.append(record.getMessage())


@contextmanager
def captured_warnings() -> Iterator[_Capture]:
    handler = _Capture()
    logger = logging.getLogger("pyhanko")
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # keep tracebacks off stderr; the reasons go to the result
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


def identity_of(certificate: Any) -> dict[str, str]:
    """Subject and serial of the signer's certificate (pyHanko extracts nothing more)."""
    cert = x509.load_der_x509_certificate(certificate.dump())
    return {"subject": cert.subject.rfc4514_string(), "serial": format(cert.serial_number, "X")}


def _signer_class(now: dt.datetime) -> Any:
    """pyHanko's PdfSigner, with the signing time taken from the scenario clock."""
    pdf_signer: Any = _module("pyhanko.sign.signers").PdfSigner

    class ClockedPdfSigner(pdf_signer):  # type: ignore[misc]
        def init_signing_session(self, *args: Any, **kwargs: Any) -> Any:
            session = super().init_signing_session(*args, **kwargs)
            session.system_time = now
            return session

    return ClockedPdfSigner


def sign_pdf(
    *, pdf: Path, out: Path, module: str, pin: str, now: dt.datetime, reader: str, key_id: bytes
) -> Result | None:
    """Sign `pdf` into `out`; None when signed, else the Result that ends the step."""
    import pkcs11

    p11: Any = _module("pyhanko.sign.pkcs11")
    signers: Any = _module("pyhanko.sign.signers")
    incremental: Any = _module("pyhanko.pdf_utils.incremental_writer")
    token_config: Any = _module("pyhanko.config.pkcs11")
    label = TOKEN_LABELS["sign"]
    lib = pkcs11.lib(module)
    index = slot_index(lib, reader, label) if reader else None
    if reader and index is None:
        return Result(ERROR, f"no {label!r} token in reader {reader!r} (card absent?)")
    description = str(lib.get_slots()[index].slot_description) if index is not None else ""

    def failed(phase: str, exc: Exception) -> Result:
        state = token_state(lib, description, label) if description else "present"
        outcome = outcome_for_exception(exc, state=state)
        return Result(outcome.outcome, f"pyHanko could not {phase}: {outcome.reason}")

    criteria = token_config.TokenCriteria(label=label)
    try:
        session = p11.open_pkcs11_session(
            module, slot_no=index, token_criteria=criteria, user_pin=pin
        )
    except Exception as exc:
        return failed("log in", exc)
    phase = "load the signing key and certificate"
    try:
        signer = p11.PKCS11Signer(session, key_id=key_id)
        signer.signing_cert  # noqa: B018 - pulls the certificate and the key handle now
        phase = "sign"
        meta = signers.PdfSignatureMetadata(field_name=FIELD_NAME, md_algorithm="sha256")
        writer = incremental.IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
        signed = io.BytesIO()
        _signer_class(now)(meta, signer=signer).sign_pdf(writer, output=signed)
        out.write_bytes(signed.getvalue())
    except Exception as exc:
        if type(exc) is pkcs11.PKCS11Error and phase != "sign":  # pyHanko's "Could not find"
            return Result(REJECTED, f"no signature key or certificate on the card: {exc}")
        return failed(phase, exc)
    finally:
        with suppress(Exception):  # the card may be gone
            session.close()
    return None


def validate_pdf(*, signed: Path, roots: list[Any], now: dt.datetime, timeout: float) -> Result:
    """pyHanko's validation of the (only) signature in `signed`, hard-fail revocation."""
    reader_mod: Any = _module("pyhanko.pdf_utils.reader")
    validation: Any = _module("pyhanko.sign.validation")
    certvalidator: Any = _module("pyhanko_certvalidator")
    fetchers: Any = _module("pyhanko_certvalidator.fetchers")
    aiohttp_fetchers: Any = _module("pyhanko_certvalidator.fetchers.aiohttp_fetchers")
    with signed.open("rb") as handle:
        reader = reader_mod.PdfFileReader(handle)
        signatures = reader.embedded_signatures
        if len(signatures) != 1:
            return Result(
                ERROR, f"expected one signature in the signed PDF, found {len(signatures)}"
            )
        context = certvalidator.ValidationContext(
            trust_roots=roots,
            moment=now,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=fetchers.OwnedFetcherBackend(  # closed by validate_pdf_signature
                aiohttp_fetchers.AIOHttpFetcherBackend(per_request_timeout=timeout)
            ),
        )
        with captured_warnings() as warnings:
            status = validation.validate_pdf_signature(signatures[0], context)
    summary = str(status.summary())
    details = [f"pyHanko: {summary}"] + [f"pyHanko warning: {r}" for r in warnings.reasons]
    good = (
        status.intact
        and status.valid
        and status.trusted
        and not status.revoked
        and status.bottom_line
    )
    if good:
        return Result(
            ACCEPTED,
            f"signed and validated: {summary}",
            identity=identity_of(status.signing_cert),
            details=details,
        )
    if not (status.intact and status.valid):
        reason = f"signature not intact/valid ({summary})"
    elif status.revoked:
        revocation = status.revocation_details
        when = revocation.revocation_date.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        whose = "a CA certificate" if revocation.ca_revoked else "the signer's certificate"
        reason = (
            f"revoked: {whose} was revoked on {when}, reason {revocation.revocation_reason.native}"
        )
    else:
        indication = status.trust_problem_indic
        name = getattr(indication, "name", str(indication))
        reason = f"not trusted ({name})"
    if warnings.reasons:
        reason += f": {warnings.reasons[0]}"
    return Result(REJECTED, reason, details=details)


def run_sign(args: argparse.Namespace, pin: str) -> Result:
    timings: dict[str, float] = {}
    now = parse_now(args.now)
    roots = load_roots(Path(args.sign_roots))
    if not roots:
        return Result(ERROR, f"no certificates in {args.sign_roots}")
    module = args.module or find_opensc_module()
    if not module:
        return Result(ERROR, "no PKCS#11 module given and OpenSC's is not installed")
    start = time.monotonic()
    for name in PYHANKO_MODULES:  # imported here so that the timings tell them apart
        _module(name)
    timings["import"] = time.monotonic() - start
    start = time.monotonic()
    stopped = sign_pdf(
        pdf=Path(args.pdf),
        out=Path(args.out),
        module=module,
        pin=pin,
        now=now,
        reader=args.reader or "",
        key_id=bytes.fromhex(args.key_id),
    )
    timings["sign"] = time.monotonic() - start
    if stopped is not None:
        stopped.timings = timings
        return stopped
    start = time.monotonic()
    result = validate_pdf(signed=Path(args.out), roots=roots, now=now, timeout=args.timeout)
    timings["validate"] = time.monotonic() - start
    result.timings = timings
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.rp.pyhanko_rp",
        description="pyHanko as a relying party: sign a PDF with the card, then validate it "
        f"(password in ${PIN_VARIABLE}).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sign = commands.add_parser("sign", help="sign --pdf into --out and validate the result")
    sign.add_argument("--pdf", required=True, help="the PDF to sign")
    sign.add_argument("--out", required=True, help="where to write the signed PDF")
    sign.add_argument("--module", default="", help="PKCS#11 module (default: OpenSC's)")
    sign.add_argument("--now", required=True, help="validation time, e.g. 2026-11-27T03:00:00Z")
    sign.add_argument("--sign-roots", required=True, help="PEM bundle of trusted roots")
    sign.add_argument("--reader", default="", help="PC/SC reader holding the card")
    sign.add_argument("--key-id", default="02", help="CKA_ID of key and certificate (hex)")
    sign.add_argument("--timeout", type=float, default=10.0, help="per HTTP request (s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pin = os.environ.get(PIN_VARIABLE)
    if pin is None:
        result = Result(ERROR, f"the password is not set (environment variable {PIN_VARIABLE})")
    else:
        try:
            result = run_sign(args, pin)
        except Exception as exc:  # the result line names it
            result = Result(ERROR, f"unexpected exception {type(exc).__name__}: {exc}")
    for line in result.details:
        print(line, file=sys.stderr)
    if result.timings:
        print(
            "timings: " + ", ".join(f"{k} {v:.3f} s" for k, v in result.timings.items()),
            file=sys.stderr,
        )
    print(result_line(result.outcome, result.reason, result.identity), flush=True)
    return EXIT_CODES[result.outcome]


if __name__ == "__main__":
    sys.exit(main())
