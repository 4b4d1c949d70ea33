"""COMPUTE DIGITAL SIGNATURE `80 2A P1 P2` (sections 5, 10), checked with cryptography."""

from __future__ import annotations

import hashlib

import pytest
from card_helpers import select_ef, select_jpki, tx, verify
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import VirtualCard
from simulator.personalization.persona import Persona

SHA256_DI = bytes.fromhex("3031300d060960864801650304020105000420")
MESSAGE = b"mynasim signature test"
KEYS = {"auth": (0x0018, 0x0017, 0x97), "sign": (0x001B, 0x001A, 0x9A)}


def _public_key(persona: Persona, which: str) -> rsa.RSAPublicKey:
    der = persona.auth.certificate if which == "auth" else persona.sign.certificate
    assert der is not None
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _login(card: VirtualCard, persona: Persona, which: str) -> None:
    pin_fid = KEYS[which][0]
    value = persona.auth_pin.value if which == "auth" else persona.sign_pin.value
    select_jpki(card)
    assert verify(card, pin_fid, value) == 0x9000
    assert select_ef(card, KEYS[which][1]) == 0x9000


def _sign(card: VirtualCard, p1: int, data: bytes, p2: int = 0x80) -> tuple[bytes, int]:
    if len(data) > 255:
        return tx(card, f"802A{p1:02X}{p2:02X}00{len(data):04X}{data.hex()}0000")
    return tx(card, f"802A{p1:02X}{p2:02X}{len(data):02X}{data.hex()}00")


def _recover(public_key: rsa.RSAPublicKey, signature: bytes) -> bytes:
    """Raw RSA public operation: the encoded message the card built."""
    numbers = public_key.public_numbers()
    m = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n)
    return m.to_bytes(256, "big")


@pytest.mark.parametrize("which", KEYS)
def test_digest_info_signature_verifies(
    card: VirtualCard, default_persona: Persona, which: str
) -> None:
    _login(card, default_persona, which)
    signature, sw = _sign(card, 0x00, SHA256_DI + hashlib.sha256(MESSAGE).digest())
    assert (sw, len(signature)) == (0x9000, 256)
    _public_key(default_persona, which).verify(
        signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize("which", KEYS)
def test_signature_is_deterministic_and_same_by_sfi(
    card: VirtualCard, default_persona: Persona, which: str
) -> None:
    _login(card, default_persona, which)
    data = SHA256_DI + hashlib.sha256(MESSAGE).digest()
    first = _sign(card, 0x00, data)
    select_ef(card, 0x000A)  # current EF no longer the key: address it by SFI
    assert _sign(card, 0x00, data, p2=KEYS[which][2]) == first


@pytest.mark.parametrize(
    "algorithm",
    [
        hashes.SHA1(),  # noqa: S303
        hashes.SHA256(),
        hashes.SHA384(),
        hashes.SHA512(),
    ],
)
def test_other_digest_infos(
    card: VirtualCard, default_persona: Persona, algorithm: hashes.HashAlgorithm
) -> None:
    _login(card, default_persona, "auth")
    digest = hashes.Hash(algorithm)
    digest.update(MESSAGE)
    value = digest.finalize()
    prefix = _recover(  # build the DigestInfo prefix independently: sign with cryptography
        _public_key(default_persona, "auth"),
        default_persona.auth.private_key.sign(value, padding.PKCS1v15(), Prehashed(algorithm)),  # type: ignore[union-attr]
    )
    digest_info = prefix[prefix.index(b"\x00", 2) + 1 :]
    signature, sw = _sign(card, 0x00, digest_info)
    assert sw == 0x9000
    _public_key(default_persona, "auth").verify(
        signature, value, padding.PKCS1v15(), Prehashed(algorithm)
    )


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=1, max_size=245))
def test_p1_00_pads_whatever_it_gets(default_persona: Persona, payload: bytes) -> None:
    """A DigestInfo without NULL parameters, or raw bytes: type-1 padding as given."""
    card = VirtualCard(default_persona)
    card.power_on()
    _login(card, default_persona, "auth")
    signature, sw = _sign(card, 0x00, payload)
    assert sw == 0x9000
    block = _recover(_public_key(default_persona, "auth"), signature)
    assert block == b"\x00\x01" + b"\xff" * (253 - len(payload)) + b"\x00" + payload


def test_p1_01_bare_sha256(card: VirtualCard, default_persona: Persona) -> None:
    _login(card, default_persona, "auth")
    signature, sw = _sign(card, 0x01, MESSAGE)
    assert sw == 0x9000
    block = _recover(_public_key(default_persona, "auth"), signature)
    assert block.endswith(b"\x00" + hashlib.sha256(MESSAGE).digest())
    assert block.startswith(b"\x00\x01\xff")


def test_p1_02_wraps_a_hash(card: VirtualCard, default_persona: Persona) -> None:
    _login(card, default_persona, "sign")
    digest = hashlib.sha256(MESSAGE).digest()
    signature, sw = _sign(card, 0x02, digest)
    assert sw == 0x9000
    _public_key(default_persona, "sign").verify(
        signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )


def test_p1_03_hashes_and_wraps(card: VirtualCard, default_persona: Persona) -> None:
    _login(card, default_persona, "sign")
    signature, sw = _sign(card, 0x03, MESSAGE)
    assert sw == 0x9000
    _public_key(default_persona, "sign").verify(
        signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize("p1", [0x04, 0x05])
def test_pss_schemes(card: VirtualCard, default_persona: Persona, p1: int) -> None:
    _login(card, default_persona, "sign")
    data = hashlib.sha256(MESSAGE).digest() if p1 == 0x04 else MESSAGE
    signature, sw = _sign(card, p1, data)
    assert sw == 0x9000
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    _public_key(default_persona, "sign").verify(signature, MESSAGE, pss, hashes.SHA256())
    with pytest.raises(InvalidSignature):
        _public_key(default_persona, "auth").verify(signature, MESSAGE, pss, hashes.SHA256())


@pytest.mark.parametrize(
    ("p1", "length", "sw"),
    [
        (0x00, 246, 0x6700),
        (0x00, 300, 0x6700),
        (0x01, 256, 0x6700),
        (0x02, 31, 0x6985),
        (0x02, 33, 0x6985),
        (0x04, 20, 0x6985),
        (0x03, 256, 0x6700),
        (0x05, 1000, 0x6700),
    ],
)
def test_input_length_limits(
    card: VirtualCard, default_persona: Persona, p1: int, length: int, sw: int
) -> None:
    _login(card, default_persona, "auth")
    assert _sign(card, p1, b"\x01" * length)[1] == sw


def test_empty_input(card: VirtualCard, default_persona: Persona) -> None:
    _login(card, default_persona, "auth")
    assert tx(card, "802A008000")[1] == 0x6700  # case 2: no data


@pytest.mark.parametrize("p1", [0x06, 0x10, 0x80, 0xFF])
def test_unknown_schemes(card: VirtualCard, default_persona: Persona, p1: int) -> None:
    _login(card, default_persona, "auth")
    assert _sign(card, p1, b"\x01" * 32)[1] == 0x6A86


@pytest.mark.parametrize("which", KEYS)
def test_signing_needs_the_pin(card: VirtualCard, which: str) -> None:
    select_jpki(card)
    select_ef(card, KEYS[which][1])
    assert _sign(card, 0x00, SHA256_DI + bytes(32)) == (b"", 0x6982)
    assert _sign(card, 0x00, SHA256_DI + bytes(32), p2=KEYS[which][2]) == (b"", 0x6982)


@pytest.mark.parametrize(
    ("select", "p2", "sw"),
    [
        (0x000A, 0x80, 0x6981),
        (0x0018, 0x80, 0x6981),
        (0x0017, 0x00, 0x6A86),
        (0x0017, 0x9F, 0x6A86),
        (0x0017, 0x83, 0x6A88),
        (0x0017, 0x8A, 0x6981),
    ],
)
def test_key_reference_errors(
    card: VirtualCard, default_persona: Persona, select: int, p2: int, sw: int
) -> None:
    _login(card, default_persona, "auth")
    select_ef(card, select)
    assert _sign(card, 0x00, SHA256_DI + bytes(32), p2=p2)[1] == sw


def test_no_current_ef(card: VirtualCard) -> None:
    select_jpki(card)
    assert _sign(card, 0x00, SHA256_DI + bytes(32))[1] == 0x6986
