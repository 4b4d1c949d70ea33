"""Faulty variants of the in-process card, made by monkeypatching simulator code for the
duration of one catalogue run (tests/conformance/test_fault_kill_rate.py)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord, retries_remaining
from simulator.applets import card_info, jpki, juki, signing
from simulator.applets.base import Applet
from simulator.card.card import VirtualCard
from simulator.fs.nodes import PinFile
from simulator.security.conditions import ALWAYS, AnyVerified
from simulator.security.pin import Pin
from simulator.security.status import SecurityStatus
from simulator.state.records import PinRecord

Patch = Callable[[pytest.MonkeyPatch], None]
Handler = Callable[[Applet, Any, Any], bytes]


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    apply: Patch


def _applet_classes() -> Iterator[type[Applet]]:
    pending: list[type[Applet]] = [Applet]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


def _wrap_handler(
    mp: pytest.MonkeyPatch, key: tuple[int, int], wrap: Callable[[Handler], Handler]
) -> None:
    """Replace the (CLA, INS) handler in every applet class's dispatch table."""
    for cls in _applet_classes():
        handlers = cls.__dict__.get("_handlers")
        if handlers is not None and key in handlers:
            mp.setitem(handlers, key, wrap(handlers[key]))


def _map_sw(mp: pytest.MonkeyPatch, key: tuple[int, int], old: int, new: int) -> None:
    def wrap(handler: Handler) -> Handler:
        def patched(self: Applet, cmd: Any, session: Any) -> bytes:
            try:
                return handler(self, cmd, session)
            except CardError as error:
                if error.sw == old:
                    raise CardError(StatusWord(new)) from None
                raise

        return patched

    _wrap_handler(mp, key, wrap)


# -- PIN counter faults -------------------------------------------------------------


def _blocked_6983(mp: pytest.MonkeyPatch) -> None:
    original = Pin.verify

    def verify(self: Pin, candidate: bytes) -> None:
        try:
            original(self, candidate)
        except CardError as error:
            if error.sw == StatusWord.REFERENCE_DATA_BLOCKED:
                raise CardError(StatusWord.AUTHENTICATION_METHOD_BLOCKED) from None
            raise

    mp.setattr(Pin, "verify", verify)


def _verify_with(spend_on_wrong: bool, restore_on_success: bool) -> Callable[[Pin, bytes], None]:
    def verify(self: Pin, candidate: bytes) -> None:
        record: PinRecord = self._record
        if record.remaining == 0:
            raise CardError(StatusWord.REFERENCE_DATA_BLOCKED)
        left = record.remaining - 1
        if self._matches(record, candidate):
            if restore_on_success:
                self._store.put(self.key, record.with_remaining(self.max_tries))
            return
        if spend_on_wrong:
            self._store.put(self.key, record.with_remaining(left))
            raise CardError(retries_remaining(left))
        raise CardError(retries_remaining(record.remaining))

    return verify


def _no_decrement(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(Pin, "verify", _verify_with(spend_on_wrong=False, restore_on_success=True))


def _decrement_after_compare(mp: pytest.MonkeyPatch) -> None:
    """The try is spent after the comparison instead of before (no anti-tearing)."""
    mp.setattr(Pin, "verify", _verify_with(spend_on_wrong=True, restore_on_success=True))


def _no_restore(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(Pin, "verify", _verify_with(spend_on_wrong=True, restore_on_success=False))


def _query_spends_a_try(mp: pytest.MonkeyPatch) -> None:
    def status_word(self: Pin) -> StatusWord:
        left = max(self.remaining - 1, 0)
        self._store.put(self.key, self._record.with_remaining(left))
        return retries_remaining(left)

    mp.setattr(Pin, "status_word", status_word)


def _case_insensitive(mp: pytest.MonkeyPatch) -> None:
    def matches(self: Pin, record: PinRecord, candidate: bytes) -> bool:
        if record.changed is not None:
            return record.changed.matches(candidate)
        return hmac.compare_digest(self._value.upper(), candidate.upper())

    mp.setattr(Pin, "_matches", matches)


def _shared_juki_counter(mp: pytest.MonkeyPatch) -> None:
    """The 住基AP PIN uses the common AP's counter."""
    original = card_info.card_pin

    def card_pin(key: str, *args: Any, **kwargs: Any) -> PinFile:
        return original("common/001C" if key == "juki/001C" else key, *args, **kwargs)

    mp.setattr(juki, "card_pin", card_pin)


# -- security status faults ------------------------------------------------------------


def _sign_cert_free(mp: pytest.MonkeyPatch) -> None:
    original = jpki._key_pair_files

    def key_pair_files(pair: Any, cert_fid: int, key_fid: int, pin_ref: int, read: Any) -> Any:
        return original(pair, cert_fid, key_fid, pin_ref, ALWAYS)

    mp.setattr(jpki, "_key_pair_files", key_pair_files)


def _status_cleared_on_reselect(mp: pytest.MonkeyPatch) -> None:
    """Re-selecting the current application clears its security status (the old rule)."""
    original = VirtualCard._select_application

    def select(self: VirtualCard, cmd: Any) -> bytes:
        before = self._current
        result = original(self, cmd)
        if self._current is before:
            self._session.status = SecurityStatus()
        return result

    mp.setattr(VirtualCard, "_select_application", select)


def _status_kept_across_applications(mp: pytest.MonkeyPatch) -> None:
    """Selecting another application keeps the security status of the one left."""
    original = VirtualCard._select_application

    def select(self: VirtualCard, cmd: Any) -> bytes:
        status = self._session.status
        result = original(self, cmd)
        self._session.status = status
        return result

    mp.setattr(VirtualCard, "_select_application", select)


def _status_survives_reset(mp: pytest.MonkeyPatch) -> None:
    """A reset of a powered card keeps the selection and the security status."""
    original = VirtualCard.power_on

    def power_on(self: VirtualCard) -> bytes:
        if self._powered:
            return self.atr
        return original(self)

    def power_off(self: VirtualCard) -> None:
        pass  # the channel's reset is power_off + power_on

    mp.setattr(VirtualCard, "power_on", power_on)
    mp.setattr(VirtualCard, "power_off", power_off)


def _empty_verify_9000(mp: pytest.MonkeyPatch) -> None:
    def wrap(handler: Handler) -> Handler:
        def verify(self: Applet, cmd: Any, session: Any) -> bytes:
            if not cmd.data and cmd.p1 == 0x00:
                try:
                    ef = self.referenced_file(cmd.p2, session)
                except CardError:
                    ef = None
                if isinstance(ef, PinFile) and session.status.is_verified(ef.pin.reference):
                    return b""
            return handler(self, cmd, session)

        return verify

    _wrap_handler(mp, (0x00, 0x20), wrap)


def _wrong_ap_access(mp: pytest.MonkeyPatch) -> None:
    """Text EF 0001 opened by 照合番号B as well (PIN, A or B)."""
    original = AnyVerified.of

    def of(*references: int) -> Any:
        if set(references) == {card_info.PIN, card_info.PIN_A}:
            references = (*references, card_info.PIN_B)
        return original(*references)

    mp.setattr(AnyVerified, "of", staticmethod(of))


# -- data and length faults ----------------------------------------------------------------


def _filler_00(mp: pytest.MonkeyPatch) -> None:
    def pad_to(content: bytes, size: int) -> bytes:
        return content + b"\x00" * (size - len(content))

    mp.setattr(jpki, "pad_to", pad_to)


def _past_end_9000(mp: pytest.MonkeyPatch) -> None:
    def wrap(handler: Handler) -> Handler:
        def read_binary(self: Applet, cmd: Any, session: Any) -> bytes:
            try:
                return handler(self, cmd, session)
            except CardError as error:
                if error.sw == StatusWord.WRONG_P1_P2:
                    return b""
                raise

        return read_binary

    _wrap_handler(mp, (0x00, 0xB0), wrap)


def _6b00_as_6700(mp: pytest.MonkeyPatch) -> None:
    _map_sw(mp, (0x00, 0xB0), 0x6B00, 0x6700)


def _foreign_aid_9000(mp: pytest.MonkeyPatch) -> None:
    original = VirtualCard._select_application

    def select(self: VirtualCard, cmd: Any) -> bytes:
        try:
            return original(self, cmd)
        except CardError as error:
            if error.sw == StatusWord.FILE_NOT_FOUND:
                return b""
            raise

    mp.setattr(VirtualCard, "_select_application", select)


def _get_data_inside_ap(mp: pytest.MonkeyPatch) -> None:
    def get_data(self: VirtualCard, cmd: Any) -> bytes:
        if cmd.le is None or cmd.data:
            raise CardError(StatusWord.WRONG_LENGTH)
        value = self._data_objects.get((cmd.p1 << 8) | cmd.p2)
        if value is None:
            raise CardError(StatusWord.REFERENCED_DATA_NOT_FOUND)
        if cmd.le < len(value):
            raise CardError(StatusWord.WRONG_LENGTH)
        return value

    mp.setattr(VirtualCard, "_get_data", get_data)


# -- signature faults ------------------------------------------------------------------------

_OTHER_KEY: list[rsa.RSAPrivateKey] = []


def _wrong_key(mp: pytest.MonkeyPatch) -> None:
    if not _OTHER_KEY:
        _OTHER_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    original = signing.compute_signature

    def compute_signature(key: rsa.RSAPrivateKey, p1: int, data: bytes) -> bytes:
        return original(_OTHER_KEY[0], p1, data)

    mp.setattr(jpki, "compute_signature", compute_signature)


def _wrong_padding(mp: pytest.MonkeyPatch) -> None:
    """PKCS#1 type-1 block padded with 00 instead of FF."""

    def sign_pkcs1_block(key: rsa.RSAPrivateKey, payload: bytes) -> bytes:
        k = key.key_size // 8
        block = b"\x00\x01" + b"\x00" * (k - 3 - len(payload)) + b"\x00" + payload
        return signing._rsa_private_op(key, int.from_bytes(block, "big")).to_bytes(k, "big")

    mp.setattr(signing, "sign_pkcs1_block", sign_pkcs1_block)


FAULTS: tuple[Fault, ...] = (
    Fault("blocked-6983", "VERIFY on a blocked PIN answers 6983 instead of 6984", _blocked_6983),
    Fault("no-decrement", "a wrong PIN does not decrement the counter", _no_decrement),
    Fault("no-restore", "a correct PIN does not restore the counter", _no_restore),
    Fault("query-spends", "the status query spends a try", _query_spends_a_try),
    Fault("case-insensitive", "PINs compared case-insensitively", _case_insensitive),
    Fault("shared-juki-counter", "住基AP and common AP share one counter", _shared_juki_counter),
    Fault("sign-cert-free", "EF 0001 readable without the signing password", _sign_cert_free),
    Fault(
        "status-cleared-on-reselect",
        "security status cleared by a re-SELECT of the same AP",
        _status_cleared_on_reselect,
    ),
    Fault(
        "status-kept-across-applications",
        "security status survives a SELECT of another AP",
        _status_kept_across_applications,
    ),
    Fault(
        "status-survives-reset",
        "selection and security status survive a reset",
        _status_survives_reset,
    ),
    Fault("empty-verify-9000", "empty VERIFY answers 9000 after a success", _empty_verify_9000),
    Fault("text-0001-opened-by-b", "text EF 0001 opened by 照合番号B", _wrong_ap_access),
    Fault("filler-00", "certificate EFs filled with 00 instead of FF", _filler_00),
    Fault("past-end-9000", "READ BINARY past the end answers 9000, empty", _past_end_9000),
    Fault("6b00-as-6700", "READ BINARY past the end answers 6700 instead of 6B00", _6b00_as_6700),
    Fault("foreign-aid-9000", "SELECT of an unknown AID answers 9000", _foreign_aid_9000),
    Fault("get-data-inside-ap", "MF GET DATA answered inside an application", _get_data_inside_ap),
    Fault("wrong-key", "JPKI signatures made with another key", _wrong_key),
    Fault("wrong-padding", "PKCS#1 type-1 padding with 00 instead of FF", _wrong_padding),
)

# Equivalent through APDUs: spending the try after the comparison only differs from
# spending it before when power is lost in between (tearing), which no APDU can cause.
EQUIVALENT_FAULTS: tuple[Fault, ...] = (
    Fault(
        "decrement-after-compare", "the try is spent after the comparison", _decrement_after_compare
    ),
)
