"""The revocation database: issuer by key (never by DN), status at an instant, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from revocation_pki import AUTH_DN, BASE, DAY, SHA1, SmallPki, make_ca, make_ee

from simulator.personalization import IssuedCertificate, Revocation
from simulator.revocation import Clock, ClockError, RevocationDatabase, RevocationDataError
from simulator.revocation.clock import format_instant, parse_instant
from simulator.revocation.database import CaRecord
from simulator.revocation.der import public_key_bits


def cert_id(pki: SmallPki, persona: str, algorithm: hashes.HashAlgorithm) -> ocsp.OCSPRequest:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        pki.cert(persona), pki.issuer(persona).certificate, algorithm
    )
    return builder.build()


def issuer_of(database: RevocationDatabase, request: ocsp.OCSPRequest) -> CaRecord | None:
    return database.find_issuer(
        request.hash_algorithm, request.issuer_name_hash, request.issuer_key_hash
    )


@pytest.mark.parametrize("algorithm", [SHA1, hashes.SHA256()], ids=["sha1", "sha256"])
def test_issuer_is_found_by_key_among_generations_with_one_dn(
    pki: SmallPki, algorithm: hashes.HashAlgorithm
) -> None:
    assert pki.auth1.certificate.subject == pki.auth2.certificate.subject
    database = pki.database()
    for persona, generation in (("alice", 1), ("bob", 2), ("dave", 1), ("erin", 2)):
        found = issuer_of(database, cert_id(pki, persona, algorithm))
        assert found is not None
        assert (found.hierarchy, found.generation) == ("auth", generation)
    found = issuer_of(database, cert_id(pki, "carol", algorithm))
    assert found is not None and (found.hierarchy, found.generation) == ("sign", 1)


def test_same_serial_under_two_generations_has_two_statuses(pki: SmallPki) -> None:
    database = pki.database()
    g1, g2 = database.authority("auth", 1), database.authority("auth", 2)
    assert g1 is not None and g2 is not None
    assert pki.cert("alice").serial_number == pki.cert("bob").serial_number
    assert g1.status(0x1001, BASE).cert_status is ocsp.OCSPCertStatus.GOOD
    revoked = g2.status(0x1001, BASE)
    assert revoked.cert_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation is not None
    assert revoked.revocation.reason is x509.ReasonFlags.key_compromise
    assert revoked.revocation.revoked_at == BASE - 10 * DAY
    assert revoked.revocation.invalidity_date == BASE - 12 * DAY


def test_a_name_hash_that_does_not_match_finds_no_issuer(pki: SmallPki) -> None:
    request = cert_id(pki, "alice", SHA1)
    database = pki.database()
    assert issuer_of(database, request) is not None
    wrong_name = bytes(20)
    found = database.find_issuer(SHA1, wrong_name, request.issuer_key_hash)
    assert found is None
    assert database.find_issuer(SHA1, request.issuer_name_hash, bytes(20)) is None


def test_key_hash_is_the_one_clients_compute(pki: SmallPki) -> None:
    for algorithm in (SHA1, hashes.SHA256(), hashes.SHA384()):
        request = cert_id(pki, "bob", algorithm)
        digest = hashes.Hash(algorithm)
        digest.update(public_key_bits(pki.auth2.certificate))
        assert digest.finalize() == request.issuer_key_hash


def test_unknown_serial_and_revocation_in_the_future(pki: SmallPki) -> None:
    database = pki.database()
    sign = database.authority("sign", 1)
    assert sign is not None
    assert sign.status(0x7777, BASE).cert_status is ocsp.OCSPCertStatus.UNKNOWN
    carol_revoked_at = BASE + 30 * DAY
    before = sign.status(0x2001, carol_revoked_at - dt.timedelta(seconds=1))
    assert before.cert_status is ocsp.OCSPCertStatus.GOOD
    at = sign.status(0x2001, carol_revoked_at)
    assert at.cert_status is ocsp.OCSPCertStatus.REVOKED
    assert at.revocation is not None
    assert at.revocation.reason is x509.ReasonFlags.affiliation_changed


def test_certificate_hold_is_revoked_with_its_reason(pki: SmallPki) -> None:
    auth1 = pki.database().authority("auth", 1)
    assert auth1 is not None
    status = auth1.status(0x1002, BASE)
    assert status.cert_status is ocsp.OCSPCertStatus.REVOKED
    assert status.revocation is not None
    assert status.revocation.reason is x509.ReasonFlags.certificate_hold


def test_revoked_list_follows_the_instant(pki: SmallPki) -> None:
    auth1 = pki.database().authority("auth", 1)
    sign1 = pki.database().authority("sign", 1)
    assert auth1 is not None and sign1 is not None
    assert [r.serial for r in auth1.revoked(BASE)] == [0x1002]
    assert auth1.revoked(BASE - 2 * DAY) == []
    assert sign1.revoked(BASE) == []
    assert [r.serial for r in sign1.revoked(BASE + 31 * DAY)] == [0x2001]


def test_inconsistent_input_is_refused(pki: SmallPki) -> None:
    issued = list(pki.issued.values())
    with pytest.raises(RevocationDataError, match="listed twice"):
        RevocationDatabase([*pki.authorities, make_ca("auth", 1, AUTH_DN)], issued)
    with pytest.raises(RevocationDataError, match="same key"):
        RevocationDatabase([*pki.authorities, dataclasses.replace(pki.auth1, generation=9)])
    stranger = make_ca("auth", 3, AUTH_DN)
    foreign = IssuedCertificate("zed", "auth", make_ee(stranger, 5, "zed"), stranger, None)
    with pytest.raises(RevocationDataError, match="not among the CA generations"):
        RevocationDatabase(pki.authorities, [*issued, foreign])
    twin = dataclasses.replace(pki.issued["alice"], persona="alice2")
    with pytest.raises(RevocationDataError, match="serial 0x1001 of auth generation 1"):
        RevocationDatabase(pki.authorities, [*issued, twin])
    delta = dataclasses.replace(
        pki.issued["frank"], revocation=Revocation(x509.ReasonFlags.remove_from_crl, BASE)
    )
    with pytest.raises(RevocationDataError, match="removeFromCRL"):
        RevocationDatabase(pki.authorities, [delta])


# -- the clock ----------------------------------------------------------------------------------


def test_clock_real_fixed_and_back() -> None:
    real = dt.datetime(2026, 5, 1, 12, 0, 0, 987654, tzinfo=dt.UTC)
    clock = Clock(real=lambda: real)
    assert clock.fixed is None
    assert clock.now() == real.replace(microsecond=0)
    fixed = dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    clock.set(fixed)
    assert clock.now() == dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert clock.fixed == clock.now()
    assert "fixed at 2027-01-01T00:00:00Z" in clock.describe()
    clock.set(None)
    assert clock.now() == real.replace(microsecond=0)


def test_instants_are_parsed_strictly() -> None:
    assert parse_instant("2027-01-01T09:00:00+09:00") == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert format_instant(parse_instant("2027-01-01T00:00:00Z")) == "2027-01-01T00:00:00Z"
    with pytest.raises(ClockError, match="no timezone"):
        parse_instant("2027-01-01T00:00:00")
    with pytest.raises(ClockError, match="not an ISO 8601"):
        parse_instant("tomorrow")
    with pytest.raises(ClockError, match="outside the years"):
        parse_instant("9999-01-01T00:00:00Z")
