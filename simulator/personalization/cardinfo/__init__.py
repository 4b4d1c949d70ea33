"""Card-info application data (issue 5): pure builders for the bytes of the text AP
(券面事項入力補助AP), the surface AP (券面AP) and the 0100/0401 APs.

Pure functions over frozen dataclasses; imports only the standard library and
``cryptography`` (see jpki-card-reference.md §3.2-§3.5, §4.1, §9).
"""

from __future__ import annotations

from .basic_four import BasicFour, encode_basic_four, hashed_part
from .card_face import CardFace, encode_age_record, encode_card_face, encode_my_number_image
from .cv_certificate import CvCertificate, encode_cv_certificate, key_id, public_key_tlv
from .era import Era, EraDate, pin_b, printed_yymmdd, to_era
from .integrity import encode_integrity
from .my_number import check_digit, encode_my_number_ef, is_valid_my_number, make_my_number
from .records import CardRecord, encode_card_record
from .signing import sha256_with_rsa, sign_digest_info

__all__ = [
    "BasicFour",
    "CardFace",
    "CardRecord",
    "CvCertificate",
    "Era",
    "EraDate",
    "check_digit",
    "encode_age_record",
    "encode_basic_four",
    "encode_card_face",
    "encode_card_record",
    "encode_cv_certificate",
    "encode_integrity",
    "encode_my_number_ef",
    "encode_my_number_image",
    "hashed_part",
    "is_valid_my_number",
    "key_id",
    "make_my_number",
    "pin_b",
    "printed_yymmdd",
    "public_key_tlv",
    "sha256_with_rsa",
    "sign_digest_info",
    "to_era",
]
