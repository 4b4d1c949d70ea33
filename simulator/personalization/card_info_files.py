"""Card-info data of a persona (issue 5): the `[card_info]` table, the files
`mynasim personalize` generates from it, and loading them back into a CardInfo.

    [card_info]
    folder = "../card-info/default"   # generated EF contents (relative to the persona file)
    my_number = "123456789018"        # 12 digits with a valid check digit
    security_code = "2285"            # 4 digits printed on the card
    card_expiry = 2034-08-20          # the card's expiry (surface DF29, 照合番号B, records)
    card_serial = "400000012719843"   # 15 digits (common AP record)
    pin = "1234"                      # 券面事項入力補助用暗証番号 (text AP 0011)
    juki_pin = "1234"                 # 住基 PIN (0401 001C) and common AP PIN (0100 001C)
    printed_birth = "era"             # "era" (和暦, as printed) or "gregorian" (foreign residents)
    verification_tries = 3            # 照合番号A/B and the birth-date key (real limit unknown)

Generation needs Pillow and a Japanese font (images); loading reads only the files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import fields
from .card_data import CardInfo, RegistryApData, SurfaceApData, TextApData
from .fields import FieldError, Table
from .holder import Holder
from .persona import PersonaError, PinSpec

KEYS = Path("pki") / "keys"
TEXT_BASIC_INFO_SIZE = 256
TEXT_EF_SIZES = {"0002": 256}  # allocated sizes (filler after the TLV)
MF_TAGS = (0x0042, 0x0045, 0x0066, 0x00F0, 0x00F2, 0x00F7, 0x00F8, 0x7F21, 0x5F51)
# Shared test 証明者 keys (CV chains), one file each under pki/keys/.
CV_KEYS = ("cv-mf-root", "cv-mf-intermediate", "cv-text-ca", "cv-text-issuer",
           "cv-surface-ca", "cv-surface-issuer")  # fmt: skip
PERSONA_KEYS = ("text-ap", "surface-ap", "internal-auth", "session")
_KEYS = (
    "folder", "my_number", "security_code", "card_expiry", "card_serial", "pin", "juki_pin",
    "printed_birth", "verification_tries",
)  # fmt: skip


@dataclass(frozen=True)
class CardInfoSpec:
    folder: Path
    my_number: str
    security_code: str
    card_expiry: dt.date
    card_serial: str
    pin: str
    juki_pin: str
    gregorian_birth: bool
    verification_tries: int


def _digits(table: Table, key: str, count: int, where: str, *, secret: bool = False) -> str:
    value = fields.string(table, key, where)
    if len(value) != count or not value.isascii() or not value.isdigit():
        shown = "" if secret else f", got {value!r}"
        raise FieldError(f"{where}.{key}: must be exactly {count} ASCII digits{shown}")
    return value


def parse_card_info(table: Table, base: Path) -> CardInfoSpec:
    """Validate a `[card_info]` table (errors name the field; PINs are never echoed)."""
    from .cardinfo import is_valid_my_number

    where = "card_info"
    fields.check_keys(table, _KEYS, where)
    my_number = _digits(table, "my_number", 12, where)
    if not is_valid_my_number(my_number):
        raise FieldError(f"{where}.my_number: the check digit (12th digit) is wrong")
    printed = table.get("printed_birth", "era")
    if printed not in ("era", "gregorian"):
        raise FieldError(f"{where}.printed_birth: must be 'era' or 'gregorian', got {printed!r}")
    tries = table.get("verification_tries", 3)
    if type(tries) is not int or not 1 <= tries <= 15:
        raise FieldError(f"{where}.verification_tries: must be an integer 1-15")
    expiry = table.get("card_expiry")
    if not isinstance(expiry, dt.date) or isinstance(expiry, dt.datetime):
        raise FieldError(f"{where}.card_expiry: must be a TOML date (YYYY-MM-DD)")
    return CardInfoSpec(
        folder=(base / fields.string(table, "folder", where)).resolve(),
        my_number=my_number,
        security_code=_digits(table, "security_code", 4, where),
        card_expiry=expiry,
        card_serial=_digits(table, "card_serial", 15, where),
        pin=_digits(table, "pin", 4, where, secret=True),
        juki_pin=_digits(table, "juki_pin", 4, where, secret=True),
        gregorian_birth=printed == "gregorian",
        verification_tries=tries,
    )


# ----------------------------------------------------------------------------- file layout

TEXT_FILES = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")
SURFACE_FILES = ("0001", "0002", "0003", "0004", "0005")


def file_names() -> list[str]:
    names = [f"text-{fid}.bin" for fid in TEXT_FILES]
    names += [f"surface-{fid}.bin" for fid in SURFACE_FILES]
    names += ["common-record.bin", "key-reference.bin"]
    names += [f"mf-{tag:04X}.bin" for tag in MF_TAGS]
    return names


def persona_key_path(root: Path, persona: str, role: str) -> Path:
    return root / KEYS / f"{persona}-{role}.pem"


# ------------------------------------------------------------------------------- building

KeySource = Callable[[Path], rsa.RSAPrivateKey]
Writer = Callable[[Path, bytes], None]


def _tlv(tag: int, value: bytes) -> bytes:
    from .cardinfo import ber

    return ber.tlv(tag.to_bytes((tag.bit_length() + 7) // 8, "big"), value)


def _key_id(prefix: str, serial: str) -> bytes:
    from .cardinfo import key_id

    return key_id(prefix, serial)


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\xff" * max(0, size - len(data))


def build_card_info(
    name: str, holder: Holder, spec: CardInfoSpec, root: Path, keys: KeySource, write: Writer
) -> None:
    """Generate every card-info file of persona `name` into `spec.folder` (via `write`)."""
    from . import cardinfo as ci
    from .images import (
        ADDRESS_SIZE,
        MY_NUMBER_SIZE,
        NAME_SIZE,
        SECURITY_CODE_SIZE,
        digits_png,
        face_jp2,
        text_png,
    )

    cv = {role: keys(root / KEYS / f"{role}.pem") for role in CV_KEYS}
    own = {role: keys(persona_key_path(root, name, role)) for role in PERSONA_KEYS}
    files: dict[str, bytes] = {}
    ids = {
        "mf-root": _key_id("6000020", "001"), "mf-intermediate": _key_id("6000020", "002"),
        "text-ca": _key_id("6000033", "001"), "text-issuer": _key_id("6000033", "101"),
        "surface-ca": _key_id("6000023", "001"), "surface-issuer": _key_id("6000023", "101"),
    }  # fmt: skip

    def cv_cert(certifier: str, subject: str) -> bytes:
        body = ci.CvCertificate(ids[certifier], ids[subject], cv[f"cv-{subject}"].public_key())
        return ci.encode_cv_certificate(body, cv[f"cv-{certifier}"])

    # text AP (券面事項入力補助AP)
    basic = ci.BasicFour(holder.name, holder.address, holder.birth_date, holder.sex)
    files["text-0001.bin"] = ci.encode_my_number_ef(spec.my_number)
    files["text-0002.bin"] = ci.encode_basic_four(basic, TEXT_EF_SIZES["0002"])
    files["text-0003.bin"] = ci.encode_integrity(
        files["text-0001.bin"], files["text-0002.bin"], cv["cv-text-issuer"]
    )
    files["text-0004.bin"] = cv_cert("text-ca", "text-issuer")
    files["text-0005.bin"] = _text_basic_info(ids["text-issuer"])
    files["text-0006.bin"] = _tlv(0xA1, ci.public_key_tlv(own["session"].public_key()))
    ap_key_tlv = _tlv(0xDF51, ci.public_key_tlv(own["text-ap"].public_key()))
    ap_signature = ci.sha256_with_rsa(cv["cv-text-issuer"], ap_key_tlv)
    files["text-0007.bin"] = _tlv(0xFF50, ap_key_tlv + _tlv(0xDF52, ap_signature))
    # surface AP (券面AP)
    surface_key = own["surface-ap"].public_key()
    signer = cv["cv-surface-issuer"]
    files["surface-0001.bin"] = ci.encode_age_record(holder.birth_date, surface_key, signer)
    face = ci.CardFace(
        birth_date=holder.birth_date,
        sex=holder.sex,
        card_public_key=surface_key,
        name_image=text_png(holder.name, NAME_SIZE),
        address_image=text_png(holder.address, ADDRESS_SIZE, lines=2),
        photo=face_jp2(name),
        expiry=spec.card_expiry,
        security_code_image=digits_png(spec.security_code, SECURITY_CODE_SIZE),
    )
    files["surface-0002.bin"] = ci.encode_card_face(face, signer)
    files["surface-0003.bin"] = _surface_basic_info(ids["surface-issuer"], holder.municipality_code)
    files["surface-0004.bin"] = cv_cert("surface-ca", "surface-issuer")
    image = digits_png(spec.my_number, MY_NUMBER_SIZE)
    files["surface-0005.bin"] = ci.encode_my_number_image(image, surface_key, signer)
    # common / 住基 APs and MF objects
    record = ci.CardRecord(spec.card_serial, holder.municipality_code, spec.card_expiry)
    files["common-record.bin"] = ci.encode_card_record(record)
    files["key-reference.bin"] = ids["mf-intermediate"]
    mf_chain = cv_cert("mf-root", "mf-intermediate")
    objects = {
        0x0042: ids["mf-root"],
        0x0045: spec.card_serial.encode("ascii"),
        0x0066: bytes.fromhex("7312060728817C2A864886FC6B01"),  # GP card recognition (shape)
        0x00F0: holder.municipality_code.encode("ascii"),
        0x00F2: f"{spec.card_expiry:%Y%m%d}".encode("ascii"),
        0x00F7: ids["mf-intermediate"],
        0x00F8: mf_chain[5:],  # without the 7F 21 82 02 33 wrapper
        0x7F21: cv_cert("mf-intermediate", "text-ca"),
        0x5F51: bytes.fromhex("E000FF8131FE4514"),  # the contact ATR without TS
    }
    for tag, value in objects.items():
        files[f"mf-{tag:04X}.bin"] = value
    for file_name, data in files.items():
        write(spec.folder / file_name, data)


def _text_basic_info(issuer_id: bytes) -> bytes:
    body = _tlv(0xDF41, bytes.fromhex("01030E01")) + _tlv(0xDF42, issuer_id)
    body += b"\xdf\x43" + b"\x82" + (128).to_bytes(2, "big") + issuer_id * 2 + b"\xff" * 96
    return _pad(b"\xff\x40" + b"\x82" + len(body).to_bytes(2, "big") + body, TEXT_BASIC_INFO_SIZE)


def _surface_basic_info(issuer_id: bytes, municipality: str) -> bytes:
    opaque = issuer_id + bytes(range(256))
    body = _tlv(0xDF31, bytes.fromhex("06030E01")) + _tlv(0xDF32, issuer_id)
    body += _tlv(0xDF33, b"\x01") + _tlv(0xDF34, municipality.encode("ascii"))
    body += _tlv(0xDF35, opaque)
    return _tlv(0xFF30, body)


# -------------------------------------------------------------------------------- loading


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError) as error:
        raise PersonaError(f"card_info: cannot load key {path}: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PersonaError(f"card_info: {path} is not an RSA private key")
    return key


def load_card_info(
    name: str, holder: Holder, spec: CardInfoSpec, root: Path, parts: list[bytes | None]
) -> CardInfo:
    """Read the generated files of a persona back (fast: no image work, no key checks)."""
    from .cardinfo import pin_b, printed_yymmdd

    data: dict[str, bytes] = {}
    for file_name in file_names():
        path = spec.folder / file_name
        try:
            data[file_name] = path.read_bytes()
        except OSError:
            raise PersonaError(
                f"card_info: {path} is missing; run `mynasim personalize` to generate it"
            ) from None
        parts.append(data[file_name])
    keys = {role: _read_key(persona_key_path(root, name, role)) for role in PERSONA_KEYS}
    tries = spec.verification_tries
    pin_a = PinSpec(spec.my_number.encode(), tries, tries)
    b_value = pin_b(holder.birth_date, spec.card_expiry.year, spec.security_code,
                    gregorian=spec.gregorian_birth)  # fmt: skip
    pin_b_spec = PinSpec(b_value.encode(), tries, tries)
    birth = printed_yymmdd(holder.birth_date, gregorian=spec.gregorian_birth)
    return CardInfo(
        text=TextApData(
            my_number=data["text-0001.bin"],
            basic_four=data["text-0002.bin"],
            integrity=data["text-0003.bin"],
            cv_certificate=data["text-0004.bin"],
            basic_info=data["text-0005.bin"],
            session_key=data["text-0006.bin"],
            ap_key_record=data["text-0007.bin"],
            ap_key=keys["text-ap"],
            pin=PinSpec(spec.pin.encode(), 3, 3),
            pin_a=pin_a,
            pin_b=pin_b_spec,
        ),
        surface=SurfaceApData(
            age_record=data["surface-0001.bin"],
            card_face=data["surface-0002.bin"],
            basic_info=data["surface-0003.bin"],
            cv_certificate=data["surface-0004.bin"],
            my_number_image=data["surface-0005.bin"],
            ap_key=keys["surface-ap"],
            birth_key=PinSpec(birth.encode(), tries, tries),
            pin_b=pin_b_spec,
            pin_a=pin_a,
        ),
        registry=RegistryApData(
            common_record=data["common-record.bin"],
            key_reference=data["key-reference.bin"],
            internal_auth_key=keys["internal-auth"],
            common_pin=PinSpec(spec.juki_pin.encode(), 3, 3),
            juki_pin=PinSpec(spec.juki_pin.encode(), 3, 3),
        ),
        mf_objects={tag: data[f"mf-{tag:04X}.bin"] for tag in MF_TAGS},
    )
