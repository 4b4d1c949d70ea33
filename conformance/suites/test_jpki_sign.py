"""JPKI-SIGN: COMPUTE DIGITAL SIGNATURE `80 2A P1 P2` (reference sections 5, 10, 15.6).

Signatures are checked against the certificate READ FROM THE CARD, and that certificate
against the persona.
"""

# ruff: noqa: S101
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    JPKI_AID,
    certificate_of,
    enter,
    read_ef,
    select_ef,
    sha256_digest_info,
    sign,
    verify,
)
from conformance.sw import expect_sw
from simulator.personalization.persona import Persona

MESSAGE = b"mynasim conformance: sign me"
PREFIXES = {
    "sha1": (bytes.fromhex("3021300906052b0e03021a05000414"), hashes.SHA1()),  # noqa: S303
    "sha384": (bytes.fromhex("3041300d060960864801650304020205000430"), hashes.SHA384()),
    "sha512": (bytes.fromhex("3051300d060960864801650304020305000440"), hashes.SHA512()),
}


def _digest(message: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(message)
    return h.finalize()


def _login(card: CardChannel, persona: Persona, which: str) -> rsa.RSAPublicKey:
    """Select JPKI, verify the PIN of `which` (auth|sign), read its certificate from the
    card (checked against the persona); its RSA public key."""
    enter(card, JPKI_AID)
    pin, cert_fid, expected = (
        (0x98, 0x000A, persona.auth.certificate)
        if which == "auth"
        else (0x9B, 0x0001, persona.sign.certificate)
    )
    value = persona.auth_pin.value if which == "auth" else persona.sign_pin.value
    expect_sw(verify(card, pin, value), 0x9000)
    response = read_ef(card, cert_fid)
    expect_sw(response, 0x9000)
    certificate = certificate_of(response.data)
    assert expected is not None
    assert certificate.public_bytes(Encoding.DER) == expected
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    return key


def _raw_recover(key: rsa.RSAPublicKey, signature: bytes) -> bytes:
    numbers = key.public_numbers()
    block = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n)
    return block.to_bytes(key.key_size // 8, "big")


@pytest.mark.spec("JPKI-SIGN-001", section="10")
def test_auth_key_signs_a_digest_info(card: CardChannel, persona: Persona) -> None:
    """The auth key signs a DigestInfo after the auth PIN (valid PKCS#1 v1.5 signature)"""
    key = _login(card, persona, "auth")
    expect_sw(select_ef(card, 0x0017), 0x9000)
    response = sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE))
    expect_sw(response, 0x9000)
    assert len(response.data) == 256
    key.verify(response.data, MESSAGE, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.spec("JPKI-SIGN-002", section="10")
@pytest.mark.requires("sign_certificate")
def test_sign_key_signs_a_digest_info(card: CardChannel, persona: Persona) -> None:
    """The signing key signs a DigestInfo after the signing password"""
    key = _login(card, persona, "sign")
    expect_sw(select_ef(card, 0x001A), 0x9000)
    response = sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE))
    expect_sw(response, 0x9000)
    key.verify(response.data, MESSAGE, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.spec("JPKI-SIGN-003", section="10")
def test_auth_key_without_pin_is_6982(card: CardChannel) -> None:
    """Signing with the auth key without the PIN answers 6982"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x0017), 0x9000)
    expect_sw(sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE)), 0x6982)
    expect_sw(sign(card, 0x00, 0x97, sha256_digest_info(MESSAGE)), 0x6982)


@pytest.mark.spec("JPKI-SIGN-004", section="10")
@pytest.mark.requires("sign_certificate")
def test_sign_key_without_password_is_6982(card: CardChannel) -> None:
    """Signing with the signing key without the password answers 6982"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x001A), 0x9000)
    expect_sw(sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE)), 0x6982)


@pytest.mark.spec("JPKI-SIGN-005", section="10")
def test_p1_above_05_is_6a86(card: CardChannel, persona: Persona) -> None:
    """COMPUTE DIGITAL SIGNATURE with P1 above 05 answers 6A86"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    for p1 in (0x06, 0x10, 0x80, 0xFF):
        expect_sw(sign(card, p1, 0x97, sha256_digest_info(MESSAGE)), 0x6A86, note=f"{p1:02X}")


@pytest.mark.spec("JPKI-SIGN-006", section="10")
def test_signatures_are_deterministic(card: CardChannel, persona: Persona) -> None:
    """The same input gives the same signature (PKCS#1 v1.5 is deterministic)"""
    _login(card, persona, "auth")
    first = sign(card, 0x00, 0x97, sha256_digest_info(MESSAGE))
    second = sign(card, 0x00, 0x97, sha256_digest_info(MESSAGE))
    expect_sw(first, 0x9000)
    expect_sw(second, 0x9000)
    assert first.data == second.data


@pytest.mark.spec("JPKI-SIGN-007", section="5")
def test_sfi_form_gives_the_same_signature(card: CardChannel, persona: Persona) -> None:
    """Signing by SFI gives the same signature as through the current EF"""
    _login(card, persona, "auth")
    by_sfi = sign(card, 0x00, 0x97, sha256_digest_info(MESSAGE))
    select_ef(card, 0x0017)
    by_current = sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE))
    expect_sw(by_sfi, 0x9000)
    expect_sw(by_current, 0x9000)
    assert by_sfi.data == by_current.data


@pytest.mark.spec("JPKI-SIGN-008", section="10")
def test_other_hash_digest_infos(card: CardChannel, persona: Persona) -> None:
    """DigestInfos of other hashes (SHA-1, SHA-384, SHA-512) are signed as given"""
    key = _login(card, persona, "auth")
    for name, (prefix, algorithm) in PREFIXES.items():
        response = sign(card, 0x00, 0x97, prefix + _digest(MESSAGE, algorithm))
        expect_sw(response, 0x9000, note=name)
        key.verify(response.data, MESSAGE, padding.PKCS1v15(), algorithm)


@pytest.mark.spec("JPKI-SIGN-009", section="10")
def test_input_longer_than_245_bytes_is_6700(card: CardChannel, persona: Persona) -> None:
    """Signature input longer than 245 bytes answers 6700"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(sign(card, 0x00, 0x97, b"\x01" * 246), 0x6700)
    expect_sw(sign(card, 0x00, 0x97, b"\x01" * 245), 0x9000)


@pytest.mark.spec("JPKI-SIGN-010", section="16")
def test_bytes_are_signed_as_given(card: CardChannel, persona: Persona) -> None:
    """The card signs the input as given, without checking the DigestInfo"""
    key = _login(card, persona, "auth")
    no_null = bytes.fromhex("302f300b0609608648016503040201" + "0420") + _digest(
        MESSAGE, hashes.SHA256()
    )
    response = sign(card, 0x00, 0x97, no_null)
    expect_sw(response, 0x9000)
    block = _raw_recover(key, response.data)
    pad = 256 - 3 - len(no_null)
    assert block == b"\x00\x01" + b"\xff" * pad + b"\x00" + no_null


@pytest.mark.spec("JPKI-SIGN-011", section="10")
def test_p1_03_hashes_with_sha256(card: CardChannel, persona: Persona) -> None:
    """P1 03 hashes the input with SHA-256 before signing"""
    key = _login(card, persona, "auth")
    response = sign(card, 0x03, 0x97, MESSAGE)
    expect_sw(response, 0x9000)
    key.verify(response.data, MESSAGE, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.spec("JPKI-SIGN-012", section="10")
def test_fixed_length_scheme_with_wrong_length_is_6985(card: CardChannel, persona: Persona) -> None:
    """P1 02/04 (fixed-length input) with input of the wrong length answers 6985"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(sign(card, 0x02, 0x97, b"\x00" * 31), 0x6985)
    expect_sw(sign(card, 0x04, 0x97, b"\x00" * 33), 0x6985)


@pytest.mark.spec("JPKI-SIGN-013", section="14")
def test_current_ef_not_a_key_is_6981(card: CardChannel, persona: Persona) -> None:
    """Signing with a current EF that is not a key answers 6981"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(select_ef(card, 0x000B), 0x9000)
    expect_sw(sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE)), 0x6981)
    expect_sw(sign(card, 0x00, 0x98, sha256_digest_info(MESSAGE)), 0x6981)  # a PIN EF


@pytest.mark.spec("JPKI-SIGN-014", section="14")
def test_no_current_ef_is_6986_and_unknown_sfi_6a88(card: CardChannel) -> None:
    """Signing without a current EF answers 6986, with an unknown SFI 6A88"""
    enter(card, JPKI_AID)
    expect_sw(sign(card, 0x00, 0x80, sha256_digest_info(MESSAGE)), 0x6986)
    expect_sw(sign(card, 0x00, 0x85, sha256_digest_info(MESSAGE)), 0x6A88)


@pytest.mark.spec("JPKI-SIGN-015", section="3.1")
@pytest.mark.requires("no_sign_certificate")
def test_no_sign_key_on_under15_card(card: CardChannel, persona: Persona) -> None:
    """A card of a holder under 15 has no signing key (EF 001A 6A82, signing 6A88)"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    expect_sw(select_ef(card, 0x001A), 0x6A82)
    expect_sw(sign(card, 0x00, 0x9A, sha256_digest_info(MESSAGE)), 0x6A88)


@pytest.mark.spec("JPKI-SIGN-016", section="10")
def test_p1_05_is_pss_over_sha256(card: CardChannel, persona: Persona) -> None:
    """P1 05 signs with RSA-PSS over SHA-256"""
    key = _login(card, persona, "auth")
    response = sign(card, 0x05, 0x97, MESSAGE)
    expect_sw(response, 0x9000)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    key.verify(response.data, MESSAGE, pss, hashes.SHA256())


@pytest.mark.spec("JPKI-SIGN-017", section="10")
def test_p1_01_signs_the_bare_sha256(card: CardChannel, persona: Persona) -> None:
    """P1 01 signs a bare SHA-256 hash"""
    key = _login(card, persona, "auth")
    response = sign(card, 0x01, 0x97, MESSAGE)
    expect_sw(response, 0x9000)
    digest = _digest(MESSAGE, hashes.SHA256())
    assert _raw_recover(key, response.data) == b"\x00\x01" + b"\xff" * 221 + b"\x00" + digest


@pytest.mark.spec("JPKI-SIGN-018", section="10")
@pytest.mark.requires("sign_certificate")
def test_sign_key_signature_differs_from_auth_key(card: CardChannel, persona: Persona) -> None:
    """The signing key's signature differs from the auth key's"""
    auth_key = _login(card, persona, "auth")
    sign_key = _login(card, persona, "sign")
    response = sign(card, 0x00, 0x9A, sha256_digest_info(MESSAGE))
    expect_sw(response, 0x9000)
    sign_key.verify(response.data, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    assert auth_key.public_numbers() != sign_key.public_numbers()
