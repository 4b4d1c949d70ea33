"""The OCSP responder (RFC 6960): one DER OCSPRequest in, one DER OCSPResponse out.

A successful answer is a BasicOCSPResponse signed with SHA-256/RSA by the delegated responder
of the CA generation the CertID names (its certificate included) or by that CA itself, with
ResponderID byKey (byName would be ambiguous: the generations share a DN). Its SingleResponse
echoes the request's CertID (hash algorithm, issuerNameHash, issuerKeyHash, serial) and has
thisUpdate = now, nextUpdate = now + the interval; producedAt is the clock's now too. A nonce
extension in the request is echoed byte for byte.

Unsuccessful answers (unsigned, RFC 6960 §4.2.1):

* ``malformedRequest``: not a DER OCSPRequest, several CertIDs in one request (we answer one),
  or a CertID hash algorithm we cannot compute (SHA-1/224/256/384/512 are accepted);
* ``unauthorized``: the CertID names an issuer that is none of our CA generations (key hash and
  name hash must both match one): nobody here may sign for it;
* ``tryLater``: the ``tryLater`` failure mode;
* ``internalError``: a bug; logged, never a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID

from . import der
from .database import UNKNOWN, RevocationDatabase, Status
from .delegation import DelegatedResponders, Signer, ca_signer
from .failures import OcspMode, ResponderKind

log = logging.getLogger("simulator.revocation.ocsp")

MAX_REQUEST = 16 * 1024  # a one-certificate request is ~100 bytes; allow signed ones
_NONCE_OID_DER = b"\x06\x09\x2b\x06\x01\x05\x05\x07\x30\x01\x02"  # 1.3.6.1.5.5.7.48.1.2
_TAG_REQUEST_EXTENSIONS = 0xA2  # tbsRequest.requestExtensions [2] EXPLICIT
_TAG_OCTET_STRING = 0x04
_TAG_VERSION = 0xA0


@dataclass(frozen=True)
class OcspAnswer:
    der: bytes
    outcome: str  # good, revoked, unknown, or the OCSPResponseStatus name of a failure


def unsuccessful(status: ocsp.OCSPResponseStatus) -> OcspAnswer:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return OcspAnswer(response.public_bytes(serialization.Encoding.DER), _outcome(status))


def _outcome(status: ocsp.OCSPResponseStatus) -> str:
    head, *rest = status.name.lower().split("_")
    return head + "".join(word.capitalize() for word in rest)  # MALFORMED_REQUEST: malformedRequest


class MalformedRequestError(ValueError):
    """The request is not one we can answer: malformedRequest."""


@dataclass(frozen=True)
class CertId:
    algorithm: hashes.HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None  # the raw extnValue content of the nonce extension


def parse_request(data: bytes) -> CertId:
    try:
        request = ocsp.load_der_ocsp_request(data)
        algorithm = request.hash_algorithm
        cert_id = CertId(
            algorithm,
            request.issuer_name_hash,
            request.issuer_key_hash,
            request.serial_number,
            _raw_nonce(data),
        )
    except (ValueError, IndexError, NotImplementedError, UnsupportedAlgorithm) as error:
        raise MalformedRequestError(str(error)) from None
    return cert_id


def _raw_nonce(data: bytes) -> bytes | None:
    """The nonce extension's extnValue, as sent: echoed without re-encoding, so clients that
    put the nonce bytes directly into extnValue (RFC 2560 readings differ) also match."""
    top = der.read_tlv(data)
    tbs = der.children(data, top)[0]
    for item in der.children(data, tbs):
        if item.tag != _TAG_REQUEST_EXTENSIONS:
            continue
        extensions = der.children(data, item)[0]
        for extension in der.children(data, extensions):
            parts = der.children(data, extension)
            oid = data[parts[0].start : parts[0].end]
            if oid == _NONCE_OID_DER and parts[-1].tag == _TAG_OCTET_STRING:
                return parts[-1].value(data)
    return None


def set_produced_at(
    response: ocsp.OCSPResponse, key: rsa.RSAPrivateKey, produced_at: dt.datetime
) -> bytes:
    """The response's DER with producedAt set to ``produced_at``, signed again.

    ``cryptography`` always writes the real time into producedAt; a fixed clock must not show
    a different "now" there than in thisUpdate. GeneralizedTime has a fixed length, so the new
    bytes replace the old ones in place.
    """
    data = response.public_bytes(serialization.Encoding.DER)
    tbs = response.tbs_response_bytes
    parts = der.children(tbs, der.read_tlv(tbs))
    index = 2 if parts[0].tag == _TAG_VERSION else 1  # [version], responderID, producedAt
    produced = parts[index]
    new_time = produced_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode()
    if produced.tag != der.TAG_GENERALIZED_TIME or produced.end - produced.content != len(new_time):
        raise der.DerError("unexpected producedAt encoding")
    new_tbs = tbs[: produced.content] + new_time + tbs[produced.end :]
    if new_tbs == tbs:
        return data
    signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA256())
    data = der.replace_once(data, tbs, new_tbs)
    return der.replace_once(data, response.signature, signature)


class OcspResponder:
    def __init__(
        self,
        database: RevocationDatabase,
        delegated: DelegatedResponders,
        next_update: dt.timedelta,
    ) -> None:
        self.database = database
        self.delegated = delegated
        self.next_update = next_update

    def respond(
        self, data: bytes, now: dt.datetime, mode: OcspMode, kind: ResponderKind
    ) -> OcspAnswer:
        """The DER OCSPResponse for ``data``; never raises."""
        try:
            return self._respond(data, now, mode, kind)
        except Exception:  # a bug must not take the responder down
            log.exception("OCSP request failed")
            return unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def _respond(
        self, data: bytes, now: dt.datetime, mode: OcspMode, kind: ResponderKind
    ) -> OcspAnswer:
        if mode is OcspMode.TRY_LATER:
            return unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
        try:
            cert_id = parse_request(data)
        except MalformedRequestError as error:
            log.info("malformed OCSP request: %s", error)
            return unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        ca = self.database.find_issuer(
            cert_id.algorithm, cert_id.issuer_name_hash, cert_id.issuer_key_hash
        )
        if ca is None:
            return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        status = UNKNOWN if mode is OcspMode.UNKNOWN else ca.status(cert_id.serial, now)
        if mode is OcspMode.RESPONDER_EXPIRED:
            signer = self.delegated.signer(ca, now, expired=True)
        elif kind is ResponderKind.DELEGATED:
            signer = self.delegated.signer(ca, now)
        else:
            signer = ca_signer(ca)
        response = self._signed(cert_id, status, signer, now)
        body = set_produced_at(response, signer.private_key, now)
        if mode is OcspMode.BAD_SIGNATURE:
            body = der.corrupt_signature(body, ocsp.load_der_ocsp_response(body).signature)
        return OcspAnswer(body, status.cert_status.name.lower())

    def _signed(
        self, cert_id: CertId, status: Status, signer: Signer, now: dt.datetime
    ) -> ocsp.OCSPResponse:
        revocation = status.revocation
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=cert_id.issuer_name_hash,
                issuer_key_hash=cert_id.issuer_key_hash,
                serial_number=cert_id.serial,
                algorithm=cert_id.algorithm,
                cert_status=status.cert_status,
                this_update=now,
                next_update=now + self.next_update,
                revocation_time=None if revocation is None else revocation.revoked_at,
                revocation_reason=None if revocation is None else revocation.reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
        )
        if signer.include:
            builder = builder.certificates([signer.certificate])
        if cert_id.nonce is not None:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(OCSPExtensionOID.NONCE, cert_id.nonce), critical=False
            )
        return builder.sign(signer.private_key, hashes.SHA256())
