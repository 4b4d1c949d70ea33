"""`mynasim ctl`: talk to the control endpoint of a running `mynasim serve`.

`call` is the one client of the endpoint (ctl, the conformance stack, the rp harness): it
sends the run's token, found by the endpoint's port in the runtime folder (see
control_token), unless one is given (`--token`, MYNASIM_TOKEN).
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from simulator.personalization.persona import builtin_personas
from simulator.service.control_token import TOKEN_ENV, TOKEN_HEADER, read_token


class CtlError(RuntimeError):
    """The control endpoint could not be reached or refused the request."""


def token_for(base: str) -> str | None:
    """The token to send to the endpoint at `base`: MYNASIM_TOKEN, else the token file of
    its port; never for an endpoint that is not on loopback (the token stays on this host)."""
    parts = urllib.parse.urlsplit(base if "://" in base else f"http://{base}")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        port = parts.port
    except ValueError:
        return None
    if not loopback:
        return None
    return os.environ.get(TOKEN_ENV) or (read_token(port) if port else None)


def call(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    token = token or token_for(base)
    if token:
        headers[TOKEN_HEADER] = token
    request = urllib.request.Request(  # noqa: S310 - the URL is built from HOST:PORT
        base.rstrip("/") + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (json.JSONDecodeError, AttributeError):
            message = exc.reason
        raise CtlError(f"{method} {path}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CtlError(f"cannot reach the control endpoint at {base} ({reason}); "
                       "is `mynasim serve` running?") from None  # fmt: skip


def format_status(card: dict[str, Any]) -> list[str]:
    where = "inserted" if card["inserted"] else "REMOVED"
    vpcd = card["vpcd"]
    connected = "connected" if card["connected"] else "not connected"
    if vpcd is None:  # serve --no-vpcd
        link, address = "no reader link", "bridge only (--no-vpcd)"
    elif vpcd.startswith("listen "):
        link = f"{connected} to a reader front end"
        address = f"listening on {vpcd.removeprefix('listen ')}"
    else:
        link, address = f"{connected} to vpcd", f"vpcd {vpcd}"
    lines = [
        f"slot {card['slot']}: persona {card['persona']!r} (token serial {card['token_serial']}), "
        f"{where}, {link}, {'powered' if card['powered'] else 'unpowered'}",
        f"  {address}; selected application: {_application(card)}",
    ]
    if card.get("interface") == "contactless":
        lines.append(f"  contactless: reader ATR {card['atr']}, PUPI {card.get('uid')}")
    for key, pin in card["pins"].items():
        state = "BLOCKED" if pin["blocked"] else f"{pin['remaining']}/{pin['max']} tries left"
        lines.append(f"  PIN {key}: {state}")
    if card["armed_removal"]:
        armed = card["armed_removal"]
        lines.append(
            f"  removal armed on INS {armed['ins']} ({armed['when']} processing"
            f"{_skipping(armed.get('skip', 0))})"
        )
    for fault in card.get("faults", []):
        detail = {"delay": " {seconds:g} s", "truncate": " {length} bytes", "sw": " {sw}"}
        what = fault["kind"] + detail.get(fault["kind"], "").format(**fault)
        left = fault["remaining"]
        count = "until cleared" if left is None else f"{left} more time{'s' * (left != 1)}"
        count += _skipping(fault.get("skip", 0))
        lines.append(f"  fault armed on INS {fault['ins']}: {what} ({count})")
    withheld = card.get("withheld")
    if withheld:
        lines.append(
            f"  chain61: {withheld['bytes']} bytes of the INS {withheld['ins']} response wait "
            "for GET RESPONSE"
        )
    return lines


def _application(card: dict[str, Any]) -> str:
    if not card["selected"]:
        return "none (MF)"
    name = card.get("application")
    return f"{name} ({card['selected']})" if name else str(card["selected"])


def _skipping(skip: int) -> str:
    if not skip:
        return ""
    return f", after {skip} more matching command{'s' * (skip != 1)}"


def persona_body(persona: str, state: Path | None) -> dict[str, Any]:
    """The body of POST /cards/<slot>/persona. Paths are made absolute: the server does not
    share our working directory. A built-in name stays a name (it wins over a file)."""
    body: dict[str, Any] = {"persona": persona}
    if persona not in builtin_personas() and Path(persona).exists():
        body["persona"] = str(Path(persona).absolute())
    if state is not None:
        body["state"] = str(state.absolute())
    return body
