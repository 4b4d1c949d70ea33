"""The control endpoint: HTTP + JSON on the loopback interface only.

GET  /status                              every card's status
POST /cards/<slot>/insert                 put the card back into its reader
POST /cards/<slot>/remove                 take it out; body {"ins": "2A", "when": "after",
                                          "skip": 0} arms the removal for the next such
                                          command (after `skip` of them passed)
POST /cards/<slot>/reset                  reset the card (security status cleared)
POST /cards/<slot>/pins/<pin>             body {"remaining": N}; pin: auth, sign, jpki/0018
POST /cards/<slot>/persona                serve another persona in place (still inserted);
                                          body {"persona": "expired" | "/path/p.toml",
                                          "state": "/path/state.json" (optional)}
POST /cards/<slot>/faults                 arm a response fault on an INS; body {"ins": "2A",
                                          "kind": "delay"|"flip"|"truncate"|"sw"|"der"|
                                          "chain61"|"wrong-le"|"empty"|"other-key" (2A
                                          only), "seconds": 2.5 | "length": 10
                                          | "sw": "6F00", "times": 1, "skip": 0}
POST /cards/<slot>/faults/clear           disarm every response fault
POST /cards/<slot>/save                   body {"path": "/abs/state.json"}: write the card's
                                          current state there (a state file --state loads)
GET  /cards/<slot>/state                  the card's current state file, as a download (token)
GET  /trace?after=N&slot=S&wait=SECONDS   the kept trace records numbered above N (all slots
                                          or one), waiting up to SECONDS (<= 25) for a first
                                          one: {"last": M, "records": [{"seq", "record",
                                          "name"}]}; record: as in the --trace file
GET  /pki, POST /pki                      with serve --pki: the test PKI's clock and failure
                                          modes (as `mynasim pki control`)
Every POST answers the card's status; a refused one gets {"error": "..."} (400, 404, 413).

Security (the endpoint listens on loopback, but any web page the user opens can send
requests to 127.0.0.1): every POST, and GET /cards/<slot>/state, needs the run's token in
the X-Mynasim-Token header (403 otherwise; see control_token); a request whose Host header is
not this loopback address and port (DNS rebinding) and a POST with a foreign Origin are refused
with 403. Extensions (the workbench page, see simulator.service.workbench) add GET routes.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

from simulator.service.control_token import (
    TOKEN_HEADER,
    new_token,
    remove_token,
    same_token,
    write_token,
)
from simulator.service.loopback import LoopbackHttpServer, Reply, require_loopback
from simulator.service.slot import FAULT_KINDS, INS_NAMES, CardSlot, parse_ins
from simulator.service.trace import TraceHub, describe_command

log = logging.getLogger("simulator.service.control")
CONTROL_PORT = 35970
MAX_BODY = 4096
FAULT_FIELDS = ("ins", "kind", "seconds", "sw", "length", "times", "skip")
_SW = re.compile(r"[0-9A-Fa-f]{4}")
MAX_WAIT = 25.0  # seconds a GET /trace may wait for a first new record
UNHANDLED = object()  # an extension's answer for a path it does not serve


class ControlError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    path: str  # without the query
    query: dict[str, str] = field(default_factory=dict)
    authorized: bool = False  # it carried the run's token


class Extension(Protocol):
    """More GET routes on the control endpoint (the workbench page); UNHANDLED for a path
    it does not serve, else a Reply or a JSON-able value."""

    def get(self, request: Request) -> Any: ...


class PkiControl(Protocol):
    """The test PKI served beside the cards (serve --pki): started and stopped with them,
    its clock and failure modes read and set through GET and POST /pki."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def control_get(self) -> dict[str, Any]: ...

    def control_post(self, body: dict[str, Any]) -> dict[str, Any]: ...  # ValueError: refused


def pki_state(pki: PkiControl) -> dict[str, Any]:
    """What GET /pki answers and the workbench shows: the PKI's URL, clock and modes."""
    return {"url": pki.url, **pki.control_get()}


class ControlServer(LoopbackHttpServer):
    """`token`: the run's token (default: a new random one), written to the token file while
    the endpoint runs; `hub`: the trace records GET /trace serves."""

    def __init__(
        self,
        slots: list[CardSlot],
        host: str = "127.0.0.1",
        port: int = CONTROL_PORT,
        *,
        token: str | None = None,
        hub: TraceHub | None = None,
        extensions: Sequence[Extension] = (),
        pki: PkiControl | None = None,
    ) -> None:
        require_loopback(host)
        self.slots = slots
        self.token = token or new_token()
        self.hub = hub if hub is not None else TraceHub()
        self.extensions = list(extensions)
        self.pki = pki
        self.token_file: Path | None = None
        handler = type("Handler", (_Handler,), {"control": self})
        super().__init__(handler, host, port, "control")
        bound = str(self.httpd.server_address[0])
        names = {"127.0.0.1", "localhost", "[::1]", f"[{bound}]" if ":" in bound else bound}
        self.hosts = frozenset(f"{name}:{self.port}" for name in names)
        self.origins = frozenset(f"http://{host}" for host in self.hosts)

    def start(self) -> None:
        self.token_file = write_token(self.port, self.token)
        super().start()

    def stop(self) -> None:
        self.hub.close()  # wake the long polls
        super().stop()
        if self.token_file is not None:
            remove_token(self.port, self.token)
            self.token_file = None

    # -- request checks -------------------------------------------------------------

    def check(self, method: str, headers: Any) -> bool:
        """ControlError 403 for a request from elsewhere; whether it carries the token."""
        host = headers.get("Host")
        if host is not None and host.lower() not in self.hosts:
            raise ControlError(
                HTTPStatus.FORBIDDEN,
                f"Host {host!r} is not this endpoint (use http://127.0.0.1:{self.port})",
            )
        origin = headers.get("Origin")
        if method != "GET" and origin is not None and origin.lower() not in self.origins:
            raise ControlError(
                HTTPStatus.FORBIDDEN, f"requests from the web page at {origin!r} are refused"
            )
        authorized = same_token(headers.get(TOKEN_HEADER), self.token)
        if method != "GET" and not authorized:
            raise ControlError(HTTPStatus.FORBIDDEN, self.token_needed())
        return authorized

    def token_needed(self) -> str:
        where = self.token_file or "the file serve printed at start"
        return (
            f"this request needs the run's token in the {TOKEN_HEADER} header "
            f"(mynasim ctl reads it from {where}; or --token / MYNASIM_TOKEN)"
        )

    # -- routes ---------------------------------------------------------------------

    def get(self, request: Request) -> Any:
        path = request.path
        if path == "/status":
            return {"cards": [slot.status() for slot in self.slots]}
        if path == "/trace":
            return self._trace(request.query)
        if path == "/pki" and self.pki is not None:
            return pki_state(self.pki)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "cards" and parts[2] == "state":
            if not request.authorized:
                raise ControlError(HTTPStatus.FORBIDDEN, self.token_needed())
            return self._download_state(self._slot(parts[1]))
        for extension in self.extensions:
            answer = extension.get(request)
            if answer is not UNHANDLED:
                return answer
        raise ControlError(HTTPStatus.NOT_FOUND, f"no such resource: GET {path}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        if path == "/pki" and self.pki is not None:
            try:
                return {"url": self.pki.url, **self.pki.control_post(body)}
            except ValueError as exc:
                raise ControlError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "cards":
            raise ControlError(HTTPStatus.NOT_FOUND, f"no such resource: POST {path}")
        slot = self._slot(parts[1])
        action = parts[2:]
        if action == ["save"]:
            self._save(slot, body)
        elif action == ["insert"]:
            slot.client.insert()
        elif action == ["remove"]:
            self._remove(slot, body)
        elif action == ["reset"]:
            slot.reset()
        elif action == ["persona"]:
            self._load_persona(slot, body)
        elif action == ["faults"]:
            self._arm_fault(slot, body)
        elif action == ["faults", "clear"]:
            slot.clear_faults()
        elif len(action) >= 2 and action[0] == "pins":  # a PIN key has a slash: jpki/0018
            self._set_pin(slot, urllib.parse.unquote("/".join(action[1:])), body)
        else:
            raise ControlError(HTTPStatus.NOT_FOUND, f"no such action: POST {path}")
        return slot.status()

    def _trace(self, query: dict[str, str]) -> Any:
        try:
            after = int(query.get("after", "0"))
            slot = None if query.get("slot") in (None, "") else int(query["slot"])
            wait = min(max(float(query.get("wait", "0")), 0.0), MAX_WAIT)
        except ValueError:
            raise ControlError(
                HTTPStatus.BAD_REQUEST, "after and slot must be integers, wait a number"
            ) from None
        found = self.hub.wait(after, wait, slot) if wait else self.hub.since(after, slot)
        records = []
        for number, record in found:
            item: dict[str, Any] = {"seq": number, "record": record}
            if record.get("direction") == "command":
                item["name"] = describe_command(record.get("apdu"))
            records.append(item)
        return {"last": self.hub.last, "records": records}

    @staticmethod
    def _save(slot: CardSlot, body: dict[str, Any]) -> None:
        path = body.get("path")
        unknown = sorted(set(body) - {"path"})
        if unknown or not isinstance(path, str) or not Path(path).is_absolute():
            raise ControlError(
                HTTPStatus.BAD_REQUEST,
                '"path" (the only field) must be the absolute path of the state file to write',
            )
        try:
            slot.save_state(Path(path))
        except (ValueError, OSError) as exc:  # StateFileError: not a state file of this card
            raise ControlError(HTTPStatus.BAD_REQUEST, f"cannot save the state: {exc}") from None

    @staticmethod
    def _download_state(slot: CardSlot) -> Reply:
        with tempfile.TemporaryDirectory(prefix="mynasim-state-") as folder:
            path = Path(folder) / "state.json"
            slot.save_state(path)
            data = path.read_bytes()
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", slot.card.persona.name)
        return Reply(
            HTTPStatus.OK,
            "application/json; charset=utf-8",
            data,
            (("Content-Disposition", f'attachment; filename="mynasim-state-{name}.json"'),),
        )

    def _slot(self, text: str) -> CardSlot:
        if not (text.isascii() and text.isdigit()) or int(text) >= len(self.slots):
            raise ControlError(HTTPStatus.NOT_FOUND, f"no card in slot {text!r}")
        return self.slots[int(text)]

    @staticmethod
    def _remove(slot: CardSlot, body: dict[str, Any]) -> None:
        if "ins" not in body:
            slot.client.remove()
            return
        try:
            slot.arm_removal(
                parse_ins(str(body["ins"])), str(body.get("when", "after")), body.get("skip", 0)
            )
        except ValueError as exc:
            raise ControlError(HTTPStatus.BAD_REQUEST, f"bad removal request: {exc}") from None

    @staticmethod
    def _load_persona(slot: CardSlot, body: dict[str, Any]) -> None:
        persona, state = body.get("persona"), body.get("state")
        if not isinstance(persona, str) or not persona:
            raise ControlError(
                HTTPStatus.BAD_REQUEST,
                '"persona" must be a persona name or the path of a persona file',
            )
        if state is not None and (not isinstance(state, str) or not state):
            raise ControlError(HTTPStatus.BAD_REQUEST, '"state" must be the path of a state file')
        unknown = sorted(set(body) - {"persona", "state"})
        if unknown:
            raise ControlError(
                HTTPStatus.BAD_REQUEST, f"unknown field {unknown[0]!r}; fields: persona, state"
            )
        try:
            slot.load_persona(persona, None if state is None else Path(state))
        except (ValueError, OSError) as exc:  # PersonaError, StateFileError, a clash
            raise ControlError(HTTPStatus.BAD_REQUEST, str(exc)) from None

    @staticmethod
    def _arm_fault(slot: CardSlot, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - set(FAULT_FIELDS))
        if unknown:
            raise ControlError(
                HTTPStatus.BAD_REQUEST,
                f"bad fault request: unknown field {unknown[0]!r}; fields: "
                + ", ".join(FAULT_FIELDS),
            )
        ins, sw = body.get("ins"), body.get("sw")
        try:
            if not isinstance(ins, str):
                raise ValueError(
                    '"ins" must be a string: one hex byte ("2A") or a command name '
                    f"({', '.join(INS_NAMES)})"
                )
            if not isinstance(body.get("kind"), str):
                raise ValueError(f'"kind" must be one of: {", ".join(FAULT_KINDS)}')
            if sw is not None and not (isinstance(sw, str) and _SW.fullmatch(sw)):
                raise ValueError(f'"sw" must be 4 hex digits ("6F00"), got {sw!r}')
            slot.arm_fault(
                parse_ins(ins),
                body["kind"],  # make_fault checks every value, its type too
                seconds=body.get("seconds", 0.0),
                sw=None if sw is None else int(sw, 16),
                length=body.get("length", 0),
                times=body.get("times", 1),
                skip=body.get("skip", 0),
            )
        except ValueError as exc:
            raise ControlError(HTTPStatus.BAD_REQUEST, f"bad fault request: {exc}") from None

    @staticmethod
    def _set_pin(slot: CardSlot, pin: str, body: dict[str, Any]) -> None:
        remaining = body.get("remaining")
        if type(remaining) is not int:
            raise ControlError(HTTPStatus.BAD_REQUEST, '"remaining" must be an integer')
        try:
            slot.set_remaining(pin, remaining)
        except KeyError as exc:
            raise ControlError(HTTPStatus.NOT_FOUND, str(exc.args[0])) from None
        except ValueError as exc:
            raise ControlError(HTTPStatus.BAD_REQUEST, str(exc)) from None


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "mynasim-control"

    def do_GET(self) -> None:
        def produce() -> Any:
            authorized = self.control.check("GET", self.headers)
            path, _, query = self.path.partition("?")
            fields = dict(urllib.parse.parse_qsl(query))
            return self.control.get(Request(path, fields, authorized))

        self._answer(produce)

    def do_POST(self) -> None:
        def produce() -> Any:
            self.control.check("POST", self.headers)
            return self.control.post(self.path, self._body())

        self._answer(produce)

    def _body(self) -> dict[str, Any]:
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isascii() or not text.isdigit():
            raise ControlError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        length = int(text)
        if length > MAX_BODY:
            raise ControlError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ControlError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        except RecursionError:  # 4 KiB of "[[[[..."
            raise ControlError(HTTPStatus.BAD_REQUEST, "the body is nested too deeply") from None
        if not isinstance(body, dict):
            raise ControlError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _answer(self, produce: Any) -> None:
        try:
            status, payload = HTTPStatus.OK, produce()
        except ControlError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception as exc:  # a bug: answer it rather than drop the connection
            log.exception("control: %s %s failed", self.command, self.path)
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc}"}
        if isinstance(payload, Reply):
            self._send(payload)
            return
        text = json.dumps(payload, indent=2, ensure_ascii=False)
        try:
            data = text.encode() + b"\n"
        except UnicodeEncodeError:  # a lone surrogate from the request, echoed in a message
            data = json.dumps(payload, indent=2).encode() + b"\n"
        self._send(Reply(status, "application/json; charset=utf-8", data))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control: " + format, *args)
