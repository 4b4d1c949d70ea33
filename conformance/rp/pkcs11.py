"""The PKCS#11 adapter: a relying party written against a PKCS#11 module, run in-process.

    adapter = Pkcs11Adapter(pkcs11_login)           # OpenSC's module, found like the tests do
    outcome = adapter.run(context)                  # a StepOutcome, never an exception

`Pkcs11Adapter` loads the module (python-pkcs11 `pkcs11.lib(path)`; by precedence the
`module` argument, `context.pkcs11_module`, then OpenSC's `opensc-pkcs11.so` found under
/usr/lib), picks the token of the step's flow in the step's reader and calls
`callable(context, token)`:

- flow `login` -> the authentication token (OpenSC's jpki emulation labels it
  ``JPKI (User Authentication PIN)``: private key, public key and certificate id 01, the
  certificate readable without the PIN, PIN 4 digits, 3 tries);
- flow `sign` -> the signature token (``JPKI (Digital Signature PIN)``: key and certificate
  id 02, the certificate and private key visible only after C_Login with the password,
  6-16 characters, 5 tries; the private key has CKA_ALWAYS_AUTHENTICATE but OpenSC signs
  after the C_Login of the session).

The token is chosen by label among the slots whose description is the step's reader (exact
label first, then a label containing "User Authentication" / "Digital Signature"), never by
slot index, so other readers and cards do not move it.

The callable returns a `StepOutcome` or a result object {"outcome", "reason"?, "identity"?}.
What it raises becomes an outcome: PIN errors (CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
CKR_PIN_LEN_RANGE, ...) are `rejected` with the PKCS#11 return value as the reason;
CKR_GENERAL_ERROR when the token now says "user PIN locked" is `rejected` too (OpenSC answers
CKR_GENERAL_ERROR, not CKR_PIN_LOCKED, to C_Login on a blocked JPKI PIN, because the card says
6984); device and token errors (CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, a card pulled
mid-signature) and any other exception are `error`, with the exception class in the reason.
A callable that does not return within `context.timeout` seconds gives `error` ("no result
within N s", `extra["hung"]`; its thread is abandoned, and the module may stay busy until the
call returns). The PIN is redacted from the reason.
`duration` is the wall time of the whole step, token search included. After each step the
module is finalized (C_Finalize), so every step starts like a freshly started program:
nothing OpenSC cached (card handle, PIN state, files) survives into the next step, and a card
replaced between steps is found anew; loading OpenSC costs a few tens of milliseconds.

python-pkcs11 is imported when a step runs, so this module imports without it.
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.report import redact_text
from conformance.rp.context import ACCEPTED, ERROR, REJECTED, Flow, StepContext, StepOutcome

if TYPE_CHECKING:
    from pkcs11 import Token

Pkcs11Callable = Callable[[StepContext, "Token"], "StepOutcome | dict[str, Any]"]

TOKEN_LABELS: dict[Flow, str] = {
    "login": "JPKI (User Authentication PIN)",
    "sign": "JPKI (Digital Signature PIN)",
}
TOKEN_LABEL_WORDS: dict[Flow, str] = {"login": "User Authentication", "sign": "Digital Signature"}

# PKCS#11 errors that are the card or token refusing the PIN: the user's answer is wrong or
# the PIN can no longer be used. Everything else from PKCS#11 is a device/token error.
PIN_ERRORS: dict[str, str] = {
    "PinIncorrect": "CKR_PIN_INCORRECT",
    "PinLocked": "CKR_PIN_LOCKED",
    "PinLenRange": "CKR_PIN_LEN_RANGE",
    "PinInvalid": "CKR_PIN_INVALID",
    "PinExpired": "CKR_PIN_EXPIRED",
}


def find_opensc_module() -> str | None:
    """OpenSC's PKCS#11 module on this machine (Debian: /usr/lib/<triplet>/), or None."""
    found = sorted(
        glob.glob("/usr/lib/*/opensc-pkcs11.so") + glob.glob("/usr/lib/opensc-pkcs11.so")
    )
    return found[0] if found else None


class TokenNotFoundError(LookupError):
    """No token of the flow in the step's reader (card absent, or not a JPKI card)."""


@dataclass(frozen=True)
class PickedToken:
    token: Token
    slot_description: str


def reader_matches(description: str, reader: str) -> bool:
    """Whether a slot description names `reader` (CK_SLOT_INFO.slotDescription is
    blank-padded to 64 bytes, so a longer reader name is cut there)."""
    description = description.strip()
    if not reader or not description:
        return False
    return description == reader or (len(description) >= 60 and reader.startswith(description))


def pick_token(lib: Any, flow: Flow, reader: str) -> PickedToken:
    """The token of `flow` in `reader` (or in any reader if `reader` is empty), by label."""
    candidates: list[tuple[str, Token]] = []
    seen: list[str] = []
    for slot in lib.get_slots(token_present=True):
        description = str(slot.slot_description).strip()
        if reader and not reader_matches(description, reader):
            continue
        try:
            token = slot.get_token()
        except Exception as exc:  # the card is going or unknown to OpenSC: not a candidate
            seen.append(f"no usable token in {description!r} ({type(exc).__name__})")
            continue
        seen.append(f"{token.label.strip()!r} in {description!r}")
        candidates.append((description, token))
    for description, token in candidates:
        if token.label.strip() == TOKEN_LABELS[flow]:
            return PickedToken(token, description)
    for description, token in candidates:
        if TOKEN_LABEL_WORDS[flow] in token.label:
            return PickedToken(token, description)
    where = f"reader {reader!r}" if reader else "any reader"
    raise TokenNotFoundError(
        f"no {TOKEN_LABELS[flow]!r} token in {where}; tokens present: {', '.join(seen) or 'none'}"
    )


def token_state(lib: Any, slot_description: str, label: str) -> str:
    """What a fresh C_GetSlotList/C_GetTokenInfo says about a token now: "locked" (user PIN
    locked), "present", or "gone" (no such token in that slot: the card was pulled). Right
    after a card is pulled mid-operation OpenSC usually still lists it ("present"): pcscd
    notices the removal a moment later."""
    from pkcs11 import TokenFlag

    try:
        for slot in lib.get_slots(token_present=True):
            if str(slot.slot_description).strip() == slot_description.strip():
                token = slot.get_token()
                if token.label.strip() == label.strip():
                    locked = token.flags & TokenFlag.USER_PIN_LOCKED
                    return "locked" if locked else "present"
    except Exception:  # the card may be going away while we look
        return "gone"
    return "gone"


def outcome_for_exception(exc: BaseException, *, state: str = "present") -> StepOutcome:
    """The outcome for an exception raised by a PKCS#11 relying party (see the module doc);
    `state` is `token_state` after the exception, when known."""
    from pkcs11 import GeneralError, PKCS11Error

    name = type(exc).__name__
    detail = str(exc).strip()
    text = f"{name}: {detail}" if detail else name
    extra: dict[str, Any] = {"pkcs11_error" if isinstance(exc, PKCS11Error) else "exception": name}
    if isinstance(exc, PKCS11Error) and name in PIN_ERRORS:
        return StepOutcome(REJECTED, f"{PIN_ERRORS[name]} ({text})", extra=extra)
    if isinstance(exc, GeneralError) and state == "locked":
        return StepOutcome(
            REJECTED,
            f"PIN locked: the token says 'user PIN locked' (OpenSC returned {text})",
            extra=extra,
        )
    gone = "; the token is gone from the reader (card removed?)" if state == "gone" else ""
    if isinstance(exc, PKCS11Error):
        return StepOutcome(ERROR, f"PKCS#11 error {text}{gone}", extra=extra)
    return StepOutcome(ERROR, f"unexpected exception {text}{gone}", extra=extra)


class Pkcs11Adapter:
    """Runs a PKCS#11 relying party `callable(context, token)` for one step."""

    def __init__(self, callable: Pkcs11Callable, module: str | None = None) -> None:
        self.callable = callable
        self.module = module
        self.name = f"pkcs11:{getattr(callable, '__name__', type(callable).__name__)}"

    @staticmethod
    def gives_message(flow: Flow) -> bool:
        """The callable has context.challenge and context.data_file: held to them."""
        return True

    def module_path(self, context: StepContext) -> str:
        path = self.module or context.pkcs11_module or find_opensc_module()
        if not path:
            raise FileNotFoundError(
                "OpenSC's PKCS#11 module is not installed (apt-get install opensc)"
            )
        return path

    def run(self, context: StepContext) -> StepOutcome:
        start = time.monotonic()
        box: list[StepOutcome] = []
        abandoned = threading.Event()

        def call() -> None:
            try:
                box.append(self._step(context, abandoned))
            except BaseException as exc:  # never lose the step's answer
                box.append(StepOutcome(ERROR, f"adapter failure {type(exc).__name__}: {exc}"))

        worker = threading.Thread(
            target=call, name=f"{self.name} {context.scenario} step {context.step}", daemon=True
        )
        worker.start()
        worker.join(context.timeout if context.timeout > 0 else None)
        if box:
            outcome = box[0]
        else:
            abandoned.set()  # its late C_Finalize must not hit a later step
            outcome = StepOutcome(ERROR, f"no result within {context.timeout:g} s")
            outcome.extra["hung"] = context.timeout
        outcome.reason = redact_text(outcome.reason, [context.pin.encode()])
        outcome.duration = time.monotonic() - start
        return outcome

    def _step(self, context: StepContext, abandoned: threading.Event) -> StepOutcome:
        try:
            import pkcs11

            module = self.module_path(context)
            lib = pkcs11.lib(module)
        except Exception as exc:  # the step's answer, never an exception
            return StepOutcome(
                ERROR, f"cannot load the PKCS#11 module: {type(exc).__name__}: {exc}"
            )
        try:
            return self._with_module(context, lib, module)
        finally:
            if not abandoned.is_set():
                with suppress(Exception):  # C_Finalize: the next step starts afresh
                    lib.finalize()

    def _with_module(self, context: StepContext, lib: Any, module: str) -> StepOutcome:
        extra: dict[str, Any] = {"module": module}
        try:
            picked = pick_token(lib, context.flow, context.reader)
        except TokenNotFoundError as exc:
            return StepOutcome(ERROR, str(exc), extra=extra)
        except Exception as exc:
            outcome = outcome_for_exception(exc)
            outcome.extra.update(extra)
            return outcome
        extra.update(token=picked.token.label.strip(), slot=picked.slot_description)
        try:
            result = self.callable(context, picked.token)
        except Exception as exc:
            state = token_state(lib, picked.slot_description, picked.token.label)
            outcome = outcome_for_exception(exc, state=state)
            outcome.extra.update(extra)
            return outcome
        if isinstance(result, StepOutcome):
            outcome = result
        else:
            try:
                outcome = StepOutcome.from_json(result)
            except (ValueError, TypeError, AttributeError) as exc:
                return StepOutcome(
                    ERROR, f"the relying party returned {result!r}: {exc}", extra=extra
                )
        outcome.extra = {**extra, **outcome.extra}
        return outcome


def _certificate_identity(certificate: x509.Certificate) -> dict[str, str]:
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": format(certificate.serial_number, "X"),
    }


def _sign_and_verify(token: Token, pin: str, data: bytes, what: str) -> StepOutcome:
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, SignMixin

    with token.open(user_pin=pin) as session:
        keys = list(
            session.get_objects(
                {
                    Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                    Attribute.KEY_TYPE: KeyType.RSA,
                    Attribute.SIGN: True,
                }
            )
        )
        if not keys:
            return StepOutcome(REJECTED, f"no private key on the token for the {what}")
        key = keys[0]
        if not isinstance(key, SignMixin):
            return StepOutcome(ERROR, f"the private key object {key!r} cannot sign")
        key_id = bytes(key[Attribute.ID])
        signature = bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
        found = list(
            session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id})
        )
        if not found:
            return StepOutcome(REJECTED, f"no certificate with the key's id {key_id.hex()}")
        certificate = x509.load_der_x509_certificate(bytes(found[0][Attribute.VALUE]))
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return StepOutcome(REJECTED, "the certificate's key is not RSA")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return StepOutcome(
            REJECTED,
            f"the {what} signature does not verify with the certificate's key",
            identity=_certificate_identity(certificate),
        )
    return StepOutcome(
        ACCEPTED,
        f"{what} signature verified with the card's certificate (certificate not validated)",
        identity=_certificate_identity(certificate),
        signature=signature,
    )


def pkcs11_login(context: StepContext, token: Token) -> StepOutcome:
    """A minimal PKCS#11 login: C_Login with `context.pin`, sign `context.challenge` with the
    token's RSA private key (CKM_SHA256_RSA_PKCS), read the certificate with the key's
    CKA_ID, and verify the signature with that certificate's public key (cryptography).

    It does NOT validate the certificate: no chain to a root, no validity period, no policy,
    no key usage, no revocation. Nor does it look at the token flags before C_Login, so on a
    blocked PIN OpenSC still sends the PIN to the card (which answers 6984). It accepts any
    card whose key matches its own certificate, so it is a demonstration of the adapter and
    a baseline, not a correct relying party. Identity: the certificate's subject DN and
    serial (hex). `signature`: the signature (the harness checks it against the card's).
    """
    return _sign_and_verify(token, context.pin, context.challenge, "challenge")


def pkcs11_sign(context: StepContext, token: Token) -> StepOutcome:
    """Like `pkcs11_login`, but signs the document `context.data_file` (run it with the
    signature token: flow `sign`). The same lack of certificate validation applies."""
    return _sign_and_verify(token, context.pin, Path(context.data_file).read_bytes(), "document")
