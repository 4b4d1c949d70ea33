"""`mynasim demo`: a guided session with the in-process card, as a relying party sees it.

Everything here talks to the card through bytes only (command APDU in, response
out), the way a PC/SC client would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import describe
from simulator.apdu.tlv import decode_all, decode_one
from simulator.card import VirtualCard

JPKI_AID = "D392F000260100000001"
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
SAN_NAME_OID = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")


class DemoClient:
    """A tiny host-side client that prints every exchange."""

    def __init__(self, card: VirtualCard, out: Callable[[str], None]) -> None:
        self.card = card
        self.out = out

    def send(self, hex_apdu: str, *, quiet: bool = False) -> tuple[bytes, int]:
        raw = bytes.fromhex(hex_apdu)
        response = self.card.transmit(raw)
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        if not quiet:
            shown = f"{len(data)} bytes + " if data else ""
            self.out(f"   > {redacted_hex(raw)}")
            self.out(f"   < {shown}{describe(sw)}")
        return data, sw

    def select_ef(self, fid: str, *, quiet: bool = False) -> int:
        return self.send(f"00A4020C02{fid}", quiet=quiet)[1]

    def read_certificate(self, fid: str) -> x509.Certificate:
        """Select the EF and read it the way OpenSC does: 4-byte header, then 256-byte pages."""
        self.select_ef(fid)
        head, sw = self.send("00B0000004")
        if sw != 0x9000:
            raise DemoError(f"reading EF {fid} was refused: {describe(sw)}")
        size = int.from_bytes(head[2:4], "big") + 4
        der = bytearray()
        while len(der) < size:
            chunk = min(256, size - len(der))
            data, sw = self.send(f"00B0{len(der):04X}{chunk % 256:02X}", quiet=True)
            if sw != 0x9000:
                raise DemoError(f"READ BINARY at {len(der)} failed: {describe(sw)}")
            der += data
        self.out(f"   ... {len(der)} bytes read in {-(-size // 256)} more READ BINARY commands")
        return x509.load_der_x509_certificate(bytes(der))

    def verify(self, fid: str, secret: str) -> int:
        self.select_ef(fid, quiet=True)
        return self.send(f"00200080{len(secret):02X}{secret.encode().hex()}")[1]

    def sign(self, key_fid: str, message: bytes) -> tuple[bytes, int]:
        self.select_ef(key_fid, quiet=True)
        digest_info = SHA256_PREFIX + hashlib.sha256(message).digest()
        return self.send(f"802A0080{len(digest_info):02X}{digest_info.hex()}00")


class DemoError(RuntimeError):
    pass


def run_demo(card: VirtualCard, out: Callable[[str], None] = print) -> int:
    persona = card.persona
    client = DemoClient(card, out)
    out(f"mynasim demo: in-process card, persona '{persona.name}' ({persona.description})")
    out(f"ATR {card.power_on().hex(' ').upper()}")
    out("\n1. Select the JPKI application (公的個人認証AP)")
    client.send(f"00A4040C0A{JPKI_AID}")

    out("\n2. Read the user-authentication certificate (EF 000A, free to read)")
    auth_cert = client.read_certificate("000A")
    out(f"   subject {auth_cert.subject.rfc4514_string()}")
    out(f"   issuer  {auth_cert.issuer.rfc4514_string()}")
    out(f"   valid   {auth_cert.not_valid_before_utc} .. {auth_cert.not_valid_after_utc}")

    out("\n3. Ask how many PIN tries are left (an empty VERIFY spends none)")
    client.select_ef("0018", quiet=True)
    client.send("00200080")

    out("\n4. Verify the authentication PIN and sign with the authentication key")
    client.verify("0018", _pin_text(persona.auth_pin.value))
    signature, _ = client.sign("0017", b"mynasim demo challenge")
    _check_signature(out, auth_cert, signature, b"mynasim demo challenge")

    out("\n5. The signature certificate (EF 0001) needs the signing password")
    client.select_ef("0001")
    client.send("00B0000004")
    client.verify("001B", _pin_text(persona.sign_pin.value))
    if persona.sign.certificate is not None:
        sign_cert = client.read_certificate("0001")
        san = sign_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for name in san.get_values_for_type(x509.OtherName):
            if name.type_id == SAN_NAME_OID:
                out(f"   holder name in the certificate: {name.value[2:].decode('utf-8')}")

    if persona.card_info is not None:
        _card_info_steps(client, persona.card_info.text.pin.value.decode("ascii"), out)
        client.send(f"00A4040C0A{JPKI_AID}", quiet=True)
    out("\n7. Lockout: three wrong authentication PINs, then the right one")
    client.select_ef("0018", quiet=True)
    wrong = b"0000" if persona.auth_pin.value != b"0000" else b"9999"
    for _ in range(persona.auth_pin.remaining):
        client.send("0020008004" + wrong.hex())
    client.send("0020008004" + persona.auth_pin.value.hex())
    out("   the status query now says:")
    client.send("00200080")
    out("\nA real card would now need a trip to the city office; this one resets on restart")
    out("(or keeps the lockout across restarts: `mynasim apdu --state FILE`).")
    card.power_off()
    return 0


TEXT_AP = "D3921000310001010408"


def _card_info_steps(client: DemoClient, pin: str, out: Callable[[str], None]) -> None:
    out("\n6. The card-info input support AP (券面事項入力補助AP): My Number and basic 4 info")
    client.send(f"00A4040C0A{TEXT_AP}")
    client.verify("0011", pin)
    client.select_ef("0001", quiet=True)
    number, _ = client.send("00B0000011")
    out(f"   My Number: {number[3:15].decode('ascii')}")
    client.select_ef("0002", quiet=True)
    basic, _ = client.send("00B0000000")
    fields = {tlv.tag: tlv.value for tlv in decode_all(decode_one(basic)[0].value)}
    sex = {"1": "male", "2": "female", "9": "not applicable"}.get(fields[0xDF25].decode(), "?")
    out(f"   name {fields[0xDF22].decode()}, address {fields[0xDF23].decode()},")
    out(f"   born {fields[0xDF24].decode()}, sex {sex}")


def _pin_text(value: bytes) -> str:
    return value.decode("ascii")


def _check_signature(
    out: Callable[[str], None], cert: x509.Certificate, signature: bytes, message: bytes
) -> None:
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise DemoError("the certificate does not hold an RSA key")
    public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    out("   the signature verifies against the certificate's public key (cryptography)")
