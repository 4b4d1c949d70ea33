"""The OCSP responder over real HTTP on 127.0.0.1, answers checked with ``cryptography``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import socket

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given
from hypothesis import strategies as st
from revocation_pki import (
    BASE,
    DAY,
    TIMEOUT,
    Running,
    get_ocsp,
    http_request,
    make_ca,
    make_ee,
    ocsp_request,
    post_ocsp,
)

from simulator.personalization import CertificateAuthority
from simulator.revocation.der import public_key_bits

Status = ocsp.OCSPCertStatus


def verify_signature(response: ocsp.OCSPResponse, key: rsa.RSAPublicKey) -> None:
    algorithm = response.signature_hash_algorithm
    assert algorithm is not None
    key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)


def check_delegated(response: ocsp.OCSPResponse, ca: CertificateAuthority) -> x509.Certificate:
    """The response is signed by a delegated responder certificate issued by ``ca``."""
    [responder] = response.certificates
    responder.verify_directly_issued_by(ca.certificate)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert response.responder_name is None  # byKey: the generations share a DN
    assert response.responder_key_hash == hashlib.sha1(public_key_bits(responder)).digest()  # noqa: S324
    public_key = responder.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    verify_signature(response, public_key)
    return responder


def test_good_certificate(running: Running) -> None:
    response = running.ocsp_for("alice")
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is Status.GOOD
    assert response.serial_number == 0x1001
    responder = check_delegated(response, running.pki.auth1)
    now = response.this_update_utc
    assert responder.not_valid_before_utc <= now
    assert response.next_update_utc is not None and response.next_update_utc <= (
        responder.not_valid_after_utc
    )
    assert responder.not_valid_after_utc - responder.not_valid_before_utc < 7 * DAY


def test_revoked_certificate_with_reason_and_time(running: Running) -> None:
    response = running.ocsp_for("bob")
    assert response.certificate_status is Status.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert response.revocation_time_utc == BASE - 10 * DAY
    check_delegated(response, running.pki.auth2)


def test_certificate_hold_is_reported_as_revoked(running: Running) -> None:
    response = running.ocsp_for("dave")
    assert response.certificate_status is Status.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.certificate_hold


def test_same_serial_answered_per_generation_found_by_key(running: Running) -> None:
    pki = running.pki
    alice, bob = pki.cert("alice"), pki.cert("bob")
    assert alice.serial_number == bob.serial_number and alice.issuer == bob.issuer
    assert running.ocsp(alice, pki.auth1.certificate).certificate_status is Status.GOOD
    assert running.ocsp(bob, pki.auth2.certificate).certificate_status is Status.REVOKED
    # asking about alice's serial under generation 2 gives generation 2's answer
    crossed = running.ocsp(alice, pki.auth2.certificate)
    assert crossed.certificate_status is Status.REVOKED
    check_delegated(crossed, pki.auth2)


def test_unknown_serial_of_a_known_issuer(running: Running) -> None:
    stranger = make_ee(running.pki.sign1, 0x7777, "never issued")
    response = running.ocsp(stranger, running.pki.sign1.certificate)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is Status.UNKNOWN
    check_delegated(response, running.pki.sign1)


def test_unknown_issuer_is_unauthorized(running: Running) -> None:
    other = make_ca("auth", 7, running.pki.auth1.certificate.subject)  # same DN, other key
    request = ocsp_request(make_ee(other, 0x1001, "x"), other.certificate)
    status, _, body = post_ocsp(running.port, request)
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).response_status is (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )


def test_sha256_cert_id_and_nonce_echoed(running: Running) -> None:
    nonce = bytes(range(16))
    response = running.ocsp_for("erin", algorithm=hashes.SHA256(), nonce=nonce)
    assert isinstance(response.hash_algorithm, hashes.SHA256)
    assert response.certificate_status is Status.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.unspecified
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    without = running.ocsp_for("erin")
    assert len(without.extensions) == 0


def test_ca_signed_responses(running: Running) -> None:
    status, state = running.control({"responder": "ca"})
    assert status == 200 and state["responder"] == "ca"
    response = running.ocsp_for("bob")
    assert response.certificate_status is Status.REVOKED
    assert response.certificates == []
    ca_key = running.pki.auth2.certificate.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    verify_signature(response, ca_key)
    assert response.responder_key_hash == (
        hashlib.sha1(public_key_bits(running.pki.auth2.certificate)).digest()  # noqa: S324
    )
    other_key = running.pki.auth1.certificate.public_key()
    assert isinstance(other_key, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):
        verify_signature(response, other_key)


def test_fixed_clock_sets_every_time_and_moves_a_revocation_into_effect(
    running: Running,
) -> None:
    revoked_at = BASE + 30 * DAY  # carol's revocation
    before = revoked_at - dt.timedelta(hours=1)
    running.control({"now": before.isoformat()})
    response = running.ocsp_for("carol")
    assert response.certificate_status is Status.GOOD
    assert response.this_update_utc == before
    assert response.produced_at_utc == before
    assert response.next_update_utc == before + DAY
    responder = check_delegated(response, running.pki.sign1)
    assert responder.not_valid_before_utc <= before < responder.not_valid_after_utc

    running.control({"now": revoked_at.isoformat()})
    response = running.ocsp_for("carol")
    assert response.certificate_status is Status.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.affiliation_changed
    assert response.revocation_time_utc == revoked_at

    far = BASE + 400 * DAY  # far enough for a new responder certificate
    running.control({"now": far.isoformat()})
    response = running.ocsp_for("carol")
    moved = check_delegated(response, running.pki.sign1)
    assert moved.not_valid_before_utc <= far < moved.not_valid_after_utc
    assert moved.serial_number != responder.serial_number


def test_get_requests_encoded_or_not(running: Running) -> None:
    # find a request whose base64 contains '/' or '+' so the raw form really is ambiguous
    for nonce_byte in range(256):
        request = ocsp_request(
            running.pki.cert("bob"), running.pki.auth2.certificate, nonce=bytes([nonce_byte]) * 8
        )
        if "/" in base64.b64encode(request).decode():
            break
    else:
        pytest.fail("no request with a '/' in its base64 form")
    for quote, prefix in [(q, p) for q in (True, False) for p in ("/ocsp/auth/", "/ocsp/")]:
        status, content_type, body = get_ocsp(running.port, request, quote=quote, prefix=prefix)
        assert status == 200 and content_type == "application/ocsp-response"
        response = ocsp.load_der_ocsp_response(body)
        assert response.certificate_status is Status.REVOKED
        nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        assert nonce == bytes([nonce_byte]) * 8


@pytest.mark.parametrize(
    "body",
    [b"", b"not DER at all", b"\x30\x03\x02\x01\x01", b"\x30\x80" + b"\x00" * 10],
    ids=["empty", "text", "wrong-structure", "indefinite"],
)
def test_malformed_requests(running: Running, body: bytes) -> None:
    status, content_type, answer = post_ocsp(running.port, body)
    assert status == 200 and content_type == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(answer)
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_two_cert_ids_in_one_request_are_malformed(running: Running) -> None:
    single = ocsp_request(running.pki.cert("alice"), running.pki.auth1.certificate)
    # OCSPRequest { TBSRequest { requestList SEQUENCE OF Request } }: duplicate the Request
    inner = single[6:]  # 30 len 30 len 30 len | Request
    assert single[0] == single[2] == single[4] == 0x30 and inner[0] == 0x30
    request_list = b"\x30" + bytes([2 * len(inner)]) + inner + inner
    tbs = b"\x30" + bytes([len(request_list)]) + request_list
    double = b"\x30" + bytes([len(tbs)]) + tbs
    status, _, answer = post_ocsp(running.port, double)
    assert status == 200
    response = ocsp.load_der_ocsp_response(answer)
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert running.ocsp_for("alice").certificate_status is Status.GOOD  # still serving


def test_garbage_get_and_oversized_post(running: Running) -> None:
    status, _, answer = http_request(running.port, "GET", "/ocsp/auth/%%%not-base64")
    assert status == 200
    malformed = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert ocsp.load_der_ocsp_response(answer).response_status is malformed
    status, _, answer = http_request(running.port, "POST", "/ocsp/auth", b"\x30" * 20000)
    assert status == 413
    with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /ocsp/auth HTTP/1.0\r\n\r\n")  # no Content-Length
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert ocsp.load_der_ocsp_response(body).response_status is malformed


# -- failure modes ----------------------------------------------------------------------------


def test_mode_unavailable_answers_503(running: Running) -> None:
    running.control({"ocsp": "unavailable"})
    request = ocsp_request(running.pki.cert("alice"), running.pki.auth1.certificate)
    status, content_type, body = post_ocsp(running.port, request)
    assert status == 503 and content_type.startswith("text/plain")
    assert b"unavailable" in body
    assert get_ocsp(running.port, request)[0] == 503
    running.control({"ocsp": "normal"})
    assert running.ocsp_for("alice").certificate_status is Status.GOOD


def test_mode_try_later(running: Running) -> None:
    running.control({"ocsp": "tryLater"})
    status, _, body = post_ocsp(
        running.port, ocsp_request(running.pki.cert("alice"), running.pki.auth1.certificate)
    )
    assert status == 200
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status is ocsp.OCSPResponseStatus.TRY_LATER


def test_mode_unknown(running: Running) -> None:
    running.control({"ocsp": "unknown"})
    for persona in ("alice", "bob"):
        response = running.ocsp_for(persona)
        assert response.certificate_status is Status.UNKNOWN
        check_delegated(response, running.pki.issuer(persona))


def test_mode_bad_signature(running: Running) -> None:
    running.control({"ocsp": "bad-signature"})
    response = running.ocsp_for("bob")
    assert response.certificate_status is Status.REVOKED  # everything else intact
    [responder] = response.certificates
    responder.verify_directly_issued_by(running.pki.auth2.certificate)
    key = responder.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):
        verify_signature(response, key)


def test_mode_responder_expired(running: Running) -> None:
    for responder_kind in ("delegated", "ca"):
        running.control({"ocsp": "responder-expired", "responder": responder_kind})
        response = running.ocsp_for("alice")
        assert response.certificate_status is Status.GOOD
        responder = check_delegated(response, running.pki.auth1)  # signature itself is fine
        now = response.this_update_utc
        assert responder.not_valid_after_utc < now
        assert responder.not_valid_after_utc == now - DAY


def test_normal_restores_every_mode(running: Running) -> None:
    for mode in ("unknown", "bad-signature", "responder-expired", "tryLater"):
        running.control({"ocsp": mode})
        running.control({"ocsp": "normal"})
        response = running.ocsp_for("bob")
        assert response.certificate_status is Status.REVOKED
        [responder] = response.certificates
        assert responder.not_valid_after_utc > response.this_update_utc
        check_delegated(response, running.pki.auth2)


def test_response_der_is_what_clients_expect(running: Running) -> None:
    """A BasicOCSPResponse (id-pkix-ocsp-basic) whose single response echoes the CertID."""
    request = ocsp.load_der_ocsp_request(
        ocsp_request(running.pki.cert("frank"), running.pki.sign1.certificate)
    )
    response = running.ocsp_for("frank")
    assert response.issuer_key_hash == request.issuer_key_hash
    assert response.issuer_name_hash == request.issuer_name_hash
    assert isinstance(response.hash_algorithm, hashes.SHA1)
    der = response.public_bytes(serialization.Encoding.DER)
    assert bytes.fromhex("06092b0601050507300101") in der  # id-pkix-ocsp-basic


# -- robustness: whatever arrives, an OCSPResponse goes back ---------------------------------


@given(data=st.binary(max_size=300))
def test_any_bytes_get_an_ocsp_response(module_server: Running, data: bytes) -> None:
    reply = module_server.service.ocsp(data)
    assert reply.status == 200
    response = ocsp.load_der_ocsp_response(reply.body)
    assert response.response_status in (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
        ocsp.OCSPResponseStatus.UNAUTHORIZED,
        ocsp.OCSPResponseStatus.SUCCESSFUL,
    )


@given(index=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_corrupted_requests_never_break_the_responder(
    module_server: Running, index: int, value: int
) -> None:
    pki = module_server.pki
    request = bytearray(ocsp_request(pki.cert("bob"), pki.auth2.certificate, nonce=b"n" * 8))
    request[index % len(request)] = value
    reply = module_server.service.ocsp(bytes(request))
    assert reply.status == 200
    ocsp.load_der_ocsp_response(reply.body)  # parses, whatever its status


@given(path=st.text(max_size=200))
def test_any_get_path_gets_an_ocsp_response(module_server: Running, path: str) -> None:
    reply = module_server.service.ocsp_get(path)
    assert reply.status == 200
    ocsp.load_der_ocsp_response(reply.body)
