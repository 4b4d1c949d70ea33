"""The control API of the revocation server, and its loopback-only rule."""

from __future__ import annotations

import datetime as dt
import http.client
import json

import pytest
from cryptography.x509 import ocsp
from revocation_pki import BASE, Running, SmallPki, http_request, ocsp_request, post_ocsp

from simulator.revocation import RevocationServer, RevocationService


def test_state_shows_clock_modes_responder_counts_and_crls(running: Running) -> None:
    status, state = running.control()
    assert status == 200
    assert state["clock"]["fixed"] is None
    now = dt.datetime.fromisoformat(state["clock"]["now"])
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert (state["ocsp"], state["crl"], state["responder"]) == ("normal", "normal", "delegated")
    assert state["nextUpdateSeconds"] == 86400
    assert state["authorities"] == [
        {"hierarchy": "auth", "generation": 1, "crl": "/crl/auth-g1.crl", "certificates": 2,
         "revokedNow": 1},
        {"hierarchy": "auth", "generation": 2, "crl": "/crl/auth-g2.crl", "certificates": 2,
         "revokedNow": 2},
        {"hierarchy": "sign", "generation": 1, "crl": "/crl/sign-g1.crl", "certificates": 2,
         "revokedNow": 0},
    ]  # fmt: skip
    assert set(state["requests"]) == {"ocsp", "crl", "control"}


def test_counts_of_requests_served(running: Running) -> None:
    before = running.control()[1]["requests"]
    running.ocsp_for("alice")
    running.ocsp_for("bob")
    post_ocsp(running.port, b"junk")
    running.crl("auth-g1.crl")
    http_request(running.port, "GET", "/crl/zzz-g1.crl")
    after = running.control()[1]["requests"]

    def delta(service: str, key: str) -> int:
        return int(after[service].get(key, 0)) - int(before[service].get(key, 0))

    assert delta("ocsp", "total") == 3
    assert (delta("ocsp", "good"), delta("ocsp", "revoked")) == (1, 1)
    assert delta("ocsp", "malformedRequest") == 1
    assert (delta("crl", "total"), delta("crl", "normal"), delta("crl", "notFound")) == (2, 1, 1)
    assert delta("control", "get") == 1


def test_post_sets_everything_at_once_and_null_returns_to_real_time(running: Running) -> None:
    status, state = running.control(
        {"now": "2027-01-01T09:00:00+09:00", "ocsp": "tryLater", "crl": "stale", "responder": "ca"}
    )
    assert status == 200
    assert state["clock"] == {"now": "2027-01-01T00:00:00Z", "fixed": "2027-01-01T00:00:00Z"}
    assert (state["ocsp"], state["crl"], state["responder"]) == ("tryLater", "stale", "ca")
    assert running.service.clock.now() == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    status, state = running.control({"now": None})
    assert status == 200 and state["clock"]["fixed"] is None
    assert state["ocsp"] == "tryLater"  # untouched settings stay
    status, same = running.control({})
    assert status == 200 and same["crl"] == "stale"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"nwo": None}, "unknown setting 'nwo'"),
        ({"now": "2027-01-01T00:00:00"}, "no timezone"),
        ({"now": "soon"}, "not an ISO 8601"),
        ({"now": 1767225600}, '"now" must be an ISO 8601 string'),
        ({"ocsp": "down"}, "\"ocsp\" must be 'normal', 'unavailable', 'tryLater'"),
        ({"ocsp": "stale"}, '"ocsp" must be'),
        ({"crl": "tryLater"}, "\"crl\" must be 'normal', 'unavailable', 'stale' or"),
        ({"responder": "self"}, "\"responder\" must be 'delegated' or 'ca'"),
        ({"responder": None}, '"responder" must be'),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    running: Running, body: object, message: str
) -> None:
    status, answer = running.control(body)
    assert status == 400
    assert message in answer["error"]


def test_a_refused_post_changes_nothing(running: Running) -> None:
    status, _ = running.control({"now": "2030-01-01T00:00:00Z", "crl": "stale", "ocsp": "x"})
    assert status == 400
    state = running.control()[1]
    assert state["clock"]["fixed"] is None and state["crl"] == "normal"


def test_body_that_is_not_json(running: Running) -> None:
    status, answer = running.control(raw=b"{oops")
    assert status == 400 and answer["error"] == "the body is not JSON"


def test_unknown_routes_and_methods(running: Running) -> None:
    status, content_type, body = http_request(running.port, "GET", "/nothing")
    assert status == 404 and content_type.startswith("text/plain")
    assert b"GET  /crl/<hierarchy>-g<gen>.crl" in body
    assert http_request(running.port, "POST", "/crl/auth-g1.crl", b"")[0] == 404
    status, _, body = http_request(running.port, "GET", "/")
    assert status == 200 and b"POST /control" in body


def test_fixed_clock_reaches_the_responses(running: Running) -> None:
    running.control({"now": (BASE + dt.timedelta(days=3)).isoformat()})
    request = ocsp_request(running.pki.cert("alice"), running.pki.auth1.certificate)
    response = ocsp.load_der_ocsp_response(post_ocsp(running.port, request)[2])
    assert response.this_update_utc == BASE + dt.timedelta(days=3)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])  # noqa: S104
def test_non_loopback_is_refused(pki: SmallPki, host: str) -> None:
    service = RevocationService(pki.database())
    with pytest.raises(ValueError, match="loopback only"):
        RevocationServer(service, host, 0)


def test_ipv6_loopback_is_fine(pki: SmallPki) -> None:
    service = RevocationService(pki.database())
    try:
        server = RevocationServer(service, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server.start()
    try:
        assert server.url.startswith("http://[::1]:")
        connection = http.client.HTTPConnection("::1", server.port, timeout=5)
        connection.request("GET", "/control")
        assert json.loads(connection.getresponse().read())["ocsp"] == "normal"
        connection.close()
    finally:
        server.stop()
