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
                                          "chain61"|"wrong-le", "seconds": 2.5 | "length": 10
                                          | "sw": "6F00", "times": 1, "skip": 0}
POST /cards/<slot>/faults/clear           disarm every response fault
Every POST answers the card's status; a refused one gets {"error": "..."} (400, 404, 413).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from simulator.service.loopback import LoopbackHttpServer, require_loopback
from simulator.service.slot import FAULT_KINDS, INS_NAMES, CardSlot, parse_ins

log = logging.getLogger("simulator.service.control")
CONTROL_PORT = 35970
MAX_BODY = 4096
FAULT_FIELDS = ("ins", "kind", "seconds", "sw", "length", "times", "skip")
_SW = re.compile(r"[0-9A-Fa-f]{4}")


class ControlError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer(LoopbackHttpServer):
    def __init__(self, slots: list[CardSlot], host: str = "127.0.0.1", port: int = CONTROL_PORT):
        require_loopback(host)
        self.slots = slots
        handler = type("Handler", (_Handler,), {"control": self})
        super().__init__(handler, host, port, "control")

    # -- routes ---------------------------------------------------------------------

    def get(self, path: str) -> Any:
        if path == "/status":
            return {"cards": [slot.status() for slot in self.slots]}
        raise ControlError(HTTPStatus.NOT_FOUND, f"no such resource: GET {path}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "cards":
            raise ControlError(HTTPStatus.NOT_FOUND, f"no such resource: POST {path}")
        slot = self._slot(parts[1])
        action = parts[2:]
        if action == ["insert"]:
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
        self._answer(lambda: self.control.get(self.path))

    def do_POST(self) -> None:
        self._answer(lambda: self.control.post(self.path, self._body()))

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
        text = json.dumps(payload, indent=2, ensure_ascii=False)
        try:
            data = text.encode() + b"\n"
        except UnicodeEncodeError:  # a lone surrogate from the request, echoed in a message
            data = json.dumps(payload, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control: " + format, *args)
