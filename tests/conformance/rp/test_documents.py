"""The documents the sign flow signs: fixed bytes, a well-formed PDF that pyHanko opens,
adds a field to and signs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import pytest

from conformance.rp.documents import (
    APPLICATION,
    application_bytes,
    pdf_bytes,
    write_application,
    write_pdf,
)


def test_the_application_is_fixed_compact_json() -> None:
    data = application_bytes()
    assert data == application_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == APPLICATION
    assert (
        data.decode("utf-8")
        == json.dumps(APPLICATION, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
    )
    assert len(data) < 1024


def test_writers_write_the_same_bytes(tmp_path: Path) -> None:
    assert write_application(tmp_path / "a.json").read_bytes() == application_bytes()
    assert write_pdf(tmp_path / "a.pdf").read_bytes() == pdf_bytes()
    assert pdf_bytes() == pdf_bytes()


def test_golden_digests() -> None:
    """Pinned: any change to the documents must be deliberate (update both digests)."""
    assert hashlib.sha256(application_bytes()).hexdigest() == (
        "7fdbc39f36e4f0b99d9c36877349cccf412d8839e3705da6fecab7dda2e43be1"
    )
    assert hashlib.sha256(pdf_bytes()).hexdigest() == (
        "ee3b5b77e1acae3c88f10c9e1ae0f001b7e8aeee2d04536a6797352305d073a8"
    )


def test_pdf_cross_reference_offsets_are_exact() -> None:
    data = pdf_bytes()
    assert data.startswith(b"%PDF-1.7\n%")
    assert data[9] == ord("%") and all(b >= 128 for b in data[10:14])  # binary marker line
    assert data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data)[1])  # type: ignore[index]
    assert data[startxref:].startswith(b"xref\n0 7\n")
    table = data[startxref:].split(b"\n", 2)[2]
    entries = [table[i : i + 20] for i in range(0, 7 * 20, 20)]
    assert entries[0] == b"0000000000 65535 f\r\n"
    for number, entry in enumerate(entries[1:], start=1):
        assert entry.endswith(b" 00000 n\r\n"), entry
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number), number
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", data)[1])  # type: ignore[index]
    stream_start = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream_start + length : stream_start + length + 9] == b"endstream"
    assert re.search(rb"/ID \[<([0-9A-F]{32})> <\1>\]", data)


def test_pyhanko_opens_the_pdf_and_adds_a_signature_field() -> None:
    pytest.importorskip("pyhanko")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields

    reader = PdfFileReader(io.BytesIO(pdf_bytes()), strict=True)
    assert reader.root["/Pages"]["/Count"] == 1
    page = reader.root["/Pages"]["/Kids"][0]
    assert list(page["/MediaBox"]) == [0, 0, 595, 842]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes()), strict=True)
    fields.append_signature_field(writer, fields.SigFieldSpec("MynasimSignature"))
    out = io.BytesIO()
    writer.write(out)
    again = PdfFileReader(out, strict=True)
    names = [f.get_object()["/T"] for f in again.root["/AcroForm"]["/Fields"]]
    assert names == ["MynasimSignature"]
    assert out.getvalue().startswith(pdf_bytes())  # an incremental update


def test_pyhanko_signs_the_pdf_with_a_persona_key_and_finds_it_intact() -> None:
    """Without a card: the default persona's signature key from the fixtures."""
    pytest.importorskip("pyhanko")
    from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import signers
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from simulator.personalization.persona import fixtures_root

    pki = fixtures_root() / "pki"
    signer = signers.SimpleSigner(
        signing_cert=load_cert_from_pemder(str(pki / "ee" / "default-sign.der")),
        signing_key=load_private_key_from_pemder(str(pki / "keys" / "default-sign.pem"), None),
        cert_registry=None,
    )
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf_bytes())),
        signers.PdfSignatureMetadata(field_name="MynasimSignature"),
        signer=signer,
        output=out,
    )
    signature = PdfFileReader(out).embedded_signatures[0]
    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(pki / "ca" / "sign-ca-3.der"))],
        moment=dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC),
        revocation_mode="soft-fail",  # no fetching: the PKI server is not running here
    )
    status = validate_pdf_signature(signature, context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.signing_cert.subject.native["common_name"] == "990002S7PQRWXY13101003A"
