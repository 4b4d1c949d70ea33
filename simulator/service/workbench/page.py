"""The workbench page, rendered on the server from the cards' status: it reads well without
JavaScript; workbench.js then keeps it live and sends the controls.

Every value is HTML-escaped. No PIN value exists here to render: the status carries retry
counters only, and trace records arrive with PIN data already redacted (`**`).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

NO_VPCD = "none: bridge only (--no-vpcd)"  # workbench.js leaves it as rendered
PIN_LABELS = {
    "jpki/0018": "JPKI user authentication PIN (auth)",
    "jpki/001B": "JPKI signature password (sign)",
    "text/0011": "card-info input support PIN",
    "text/0014": "card-info input support: 照合番号A (My Number)",
    "text/0015": "card-info input support: 照合番号B (birth, expiry, code)",
    "surface/0011": "card surface: birth-date key",
    "surface/0012": "card surface: 照合番号B (birth, expiry, code)",
    "surface/0013": "card surface: 照合番号A (My Number)",
    "juki/001C": "residence record PIN",
    "common/001C": "common PIN",
}
APPLICATION_LABELS = {
    "JPKI": "JPKI (公的個人認証)",
    "text": "card-info input support (券面事項入力補助)",
    "surface": "card surface (券面AP)",
    "juki": "residence record (住基)",
    "common": "common",
}
REMOVAL_INS = (
    ("2A", "COMPUTE DIGITAL SIGNATURE (2A)"),
    ("20", "VERIFY (20)"),
    ("B0", "READ BINARY (B0)"),
    ("A4", "SELECT (A4)"),
    ("84", "GET CHALLENGE (84)"),
    ("88", "INTERNAL AUTHENTICATE (88)"),
)
TRACE_COMMANDS = (
    "SELECT",
    "VERIFY",
    "READ BINARY",
    "COMPUTE DIGITAL SIGNATURE",
    "GET RESPONSE",
    "GET CHALLENGE",
    "INTERNAL AUTHENTICATE",
    "CHANGE REFERENCE DATA",
)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _options(values: Sequence[tuple[str, str]], selected: str | None = None) -> str:
    return "".join(
        f'<option value="{_e(value)}"{" selected" if value == selected else ""}>{_e(label)}'
        "</option>"
        for value, label in values
    )


def application_label(card: dict[str, Any]) -> str:
    if not card.get("selected"):
        return "none (MF)"
    name = card.get("application")
    label = APPLICATION_LABELS.get(str(name), str(name)) if name else "?"
    return f"{label} — {card['selected']}"


def render_page(
    cards: Sequence[dict[str, Any]],
    personas: Sequence[str],
    pki: dict[str, Any] | None,
    reports: Sequence[dict[str, Any]],
) -> str:
    sections = "".join(_card_section(card, personas) for card in cards)
    pki_section = _pki_section(pki) if pki is not None else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>mynasim workbench</title>
<link rel="stylesheet" href="/ui/workbench.css">
<script src="/ui/workbench.js" defer></script>
</head>
<body>
<header>
<h1>mynasim workbench</h1>
<span id="token-state" class="warn">no token: controls are disabled (open the URL
<code>mynasim serve --ui</code> printed)</span>
<span id="message" role="status"></span>
</header>
<main>
<div id="cards">{sections}</div>
{pki_section}
{_trace_section(cards)}
{_reports_section(reports)}
</main>
</body>
</html>
"""


def _card_section(card: dict[str, Any], personas: Sequence[str]) -> str:
    slot = _e(card["slot"])
    rows = "".join(
        f'<tr><th>{_e(label)}</th><td data-field="{_e(key)}">{_e(value)}</td></tr>'
        for key, label, value in (
            ("persona", "persona", card["persona"]),
            ("token_serial", "token serial", card["token_serial"]),
            ("atr", "ATR", card["atr"]),
            ("vpcd", "reader link", card["vpcd"] or NO_VPCD),
            ("inserted", "card", "inserted" if card["inserted"] else "REMOVED"),
            ("connected", "connected", "yes" if card["connected"] else "no"),
            ("powered", "powered", "yes" if card["powered"] else "no"),
            ("application", "selected application", application_label(card)),
            ("state", "state file", card.get("state") or "in memory"),
            ("armed", "armed", _armed(card)),
        )
    )
    pins = "".join(_pin_row(card["slot"], key, pin) for key, pin in card["pins"].items())
    pin_keys = [(key, PIN_LABELS.get(key, key)) for key in card["pins"]]
    persona_options = _options([(name, name) for name in personas], card["persona"])
    return f"""
<section class="card" id="card-{slot}" data-slot="{slot}">
<h2>slot {slot}: <span data-field="title">{_e(card["persona"])}</span></h2>
<div class="columns">
<table class="status"><tbody>{rows}</tbody></table>
<div>
<table class="pins"><thead><tr><th>PIN</th><th>tries left</th><th>max</th><th>state</th>
</tr></thead><tbody data-field="pins">{pins}</tbody></table>
</div>
</div>
<div class="controls">
<fieldset><legend>card</legend>
<button type="button" data-action="insert" id="insert-{slot}">insert</button>
<button type="button" data-action="remove" id="remove-{slot}">remove</button>
<button type="button" data-action="reset" id="reset-{slot}">reset</button>
</fieldset>
<fieldset><legend>remove on the next command</legend>
<select id="arm-ins-{slot}" aria-label="INS">{_options(REMOVAL_INS)}</select>
<select id="arm-when-{slot}" aria-label="when">{
        _options([("after", "after processing"), ("before", "before processing")])
    }</select>
<button type="button" data-action="arm" id="arm-{slot}">arm</button>
</fieldset>
<fieldset><legend>retry counter</legend>
<select id="pin-key-{slot}" aria-label="PIN">{_options(pin_keys)}</select>
<input id="pin-remaining-{slot}" type="number" min="0" max="15" value="3" aria-label="tries">
<button type="button" data-action="set-pin" id="set-pin-{slot}">set</button>
</fieldset>
<fieldset><legend>persona</legend>
<select id="persona-{slot}" aria-label="persona">{persona_options}</select>
<input id="persona-state-{slot}" placeholder="state file to load (optional, server path)"
 aria-label="state file">
<button type="button" data-action="persona" id="switch-{slot}">switch / load</button>
</fieldset>
<fieldset><legend>save the card state</legend>
<input id="save-path-{slot}" placeholder="/absolute/path/state.json (on the server)"
 aria-label="save path">
<button type="button" data-action="save" id="save-{slot}">save</button>
<button type="button" data-action="download" id="download-{slot}">download</button>
</fieldset>
</div>
</section>"""


def _armed(card: dict[str, Any]) -> str:
    parts = []
    removal = card.get("armed_removal")
    if removal:
        parts.append(f"removal on INS {removal['ins']} ({removal['when']} processing)")
    for fault in card.get("faults") or []:
        parts.append(f"fault {fault['kind']} on INS {fault['ins']}")
    return "; ".join(parts) or "nothing"


def _pin_row(slot: object, key: str, pin: dict[str, Any]) -> str:
    state = "BLOCKED" if pin["blocked"] else "usable"
    return (
        f'<tr data-pin="{_e(key)}"><td title="{_e(key)}">{_e(PIN_LABELS.get(key, key))}</td>'
        f'<td class="n" id="pin-{_e(slot)}-{_e(key)}">{_e(pin["remaining"])}</td>'
        f'<td class="n">{_e(pin["max"])}</td><td class="{state.lower()}">{state}</td></tr>'
    )


def _pki_section(pki: dict[str, Any]) -> str:
    choices = pki.get("choices", {})
    clock = pki.get("clock", {})

    def select(name: str) -> str:
        values = [(value, value) for value in choices.get(name, [])]
        return (
            f'<select id="pki-{name}" aria-label="{name}">'
            f"{_options(values, pki.get(name))}</select>"
        )

    return f"""
<section id="pki">
<h2>test PKI <small>(OCSP and CRLs at <a href="{_e(pki.get("url", ""))}/">{
        _e(pki.get("url", ""))
    }</a>)</small></h2>
<p>clock: <span id="pki-clock">{_e(clock.get("now", ""))}</span>
(<span id="pki-fixed">{"fixed" if clock.get("fixed") else "real time"}</span>);
OCSP <span id="pki-ocsp-now">{_e(pki.get("ocsp", ""))}</span>,
CRL <span id="pki-crl-now">{_e(pki.get("crl", ""))}</span></p>
<fieldset><legend>change</legend>
<input id="pki-now" placeholder="2027-01-01T00:00:00Z (empty: keep)" aria-label="clock">
<label><input id="pki-real" type="checkbox"> real time</label>
OCSP {select("ocsp")} CRL {select("crl")} responder {select("responder")}
<button type="button" id="pki-apply">apply</button>
</fieldset>
</section>"""


def _trace_section(cards: Sequence[dict[str, Any]]) -> str:
    slots = [("", "all slots")] + [(str(card["slot"]), f"slot {card['slot']}") for card in cards]
    commands = [("", "all commands")] + [(name, name) for name in TRACE_COMMANDS]
    return f"""
<section id="trace">
<h2>APDU trace <small id="trace-count"></small></h2>
<div class="filters">
<input id="trace-text" type="search" placeholder="filter: text in any column"
 aria-label="text filter">
<select id="trace-command" aria-label="command filter">{_options(commands)}</select>
<input id="trace-sw" placeholder="SW (9000, 63, !9000)" size="12" aria-label="SW filter">
<select id="trace-slot" aria-label="slot filter">{_options(slots)}</select>
<label><input id="trace-events" type="checkbox" checked> events</label>
<button type="button" id="trace-pause">pause</button>
<button type="button" id="trace-clear">clear</button>
<button type="button" id="trace-export">export shown (JSON lines)</button>
</div>
<table class="trace"><thead><tr><th>time</th><th>slot</th><th></th><th>command</th>
<th>APDU</th><th>SW</th><th>meaning</th></tr></thead><tbody id="trace-rows"></tbody></table>
</section>"""


def _reports_section(reports: Sequence[dict[str, Any]]) -> str:
    if not reports:
        return ""
    items = "".join(
        f'<li><a href="{_e(item["url"])}" target="_blank" rel="noopener">{_e(item["title"])}'
        f"</a> <small>{_e(item['modified'])} — {_e(item['folder'])}</small></li>"
        for item in reports
    )
    return f'<section id="reports"><h2>reports</h2><ul>{items}</ul></section>'
