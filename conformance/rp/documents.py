"""The documents a relying party signs in the `sign` flow: fixed bytes, made by our own code.

- `application_bytes()` / `write_application(path)`: an eKYC application (a bank-account
  opening request) as small deterministic JSON, UTF-8, one line plus a newline. This is
  `StepContext.data_file`: what a signer of raw data (PKCS#1 over the bytes, CMS detached,
  ...) signs.
- `pdf_bytes()` / `write_pdf(path)`: a minimal one-page PDF 1.7 assembled by hand (catalog,
  page tree, one page with a Helvetica text stream, a cross-reference table with exact byte
  offsets and a trailer with a fixed /ID). This is `StepContext.pdf`: what a PDF signer
  (pyHanko, a PAdES library) signs; it has no signature field, the signer adds one.

Both are the same bytes on every run and machine, so a signature over them is comparable
between runs, and neither depends on a PDF or JSON library's version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

APPLICATION: dict[str, object] = {
    "format": "mynasim-ekyc-application/1",
    "kind": "bank-account-opening",
    "relying_party": "mynasim test bank (fictional)",
    "application_id": "APP-2026-000001",
    "product": "ordinary deposit account",
    "currency": "JPY",
    "statement": (
        "I apply for the account above and confirm that the identity information in my "
        "signature certificate is mine."
    ),
    "statement_ja": (
        "上記の口座開設を申し込み、署名用電子証明書の本人情報が私のものであることを確認します。"
    ),
}

PDF_TITLE = "mynasim eKYC application APP-2026-000001"
PDF_LINES = (
    "mynasim eKYC application APP-2026-000001",
    "Ordinary deposit account, JPY (fictional test bank)",
    "Signed with the card's digital signature certificate.",
)


def application_bytes() -> bytes:
    """The eKYC application to sign: compact JSON with sorted keys and a final newline."""
    text = json.dumps(APPLICATION, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def write_application(path: Path) -> Path:
    """Write `application_bytes()` to `path` and return the path."""
    path.write_bytes(application_bytes())
    return path


def _pdf_string(text: str) -> bytes:
    """A PDF literal string for ASCII text (parentheses and backslashes escaped)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("ascii") + b")"


def _content_stream() -> bytes:
    parts = [b"BT", b"/F1 14 Tf", b"72 770 Td", b"18 TL"]
    for line in PDF_LINES:
        parts.append(_pdf_string(line) + b" '")
    parts.append(b"ET")
    return b"\n".join(parts) + b"\n"


def pdf_bytes() -> bytes:
    """A minimal valid one-page PDF 1.7 (A4), identical bytes on every call."""
    content = _content_stream()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Title " + _pdf_string(PDF_TITLE) + b" /Producer (mynasim) >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f\r\n"  # each entry is exactly 20 bytes
    for offset in offsets:
        out += b"%010d 00000 n\r\n" % offset
    file_id = hashlib.md5(bytes(out[:xref_at]), usedforsecurity=False).hexdigest().upper()
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        file_id.encode("ascii"),
        file_id.encode("ascii"),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def write_pdf(path: Path) -> Path:
    """Write `pdf_bytes()` to `path` and return the path."""
    path.write_bytes(pdf_bytes())
    return path
