"""One bridge session's trace as a self-contained HTML page, in the conformance reports' style.

`mynasim serve --bridge-report DIR` writes each WebSocket session's records (serve's trace
format: simulator/service/trace.py, plus "session" and "origin") to DIR/<session>.jsonl and,
when the session ends, calls `write_trace_html` for DIR/<session>.html. The page has the
session's facts (profile, persona, interface, ATR, UID, start and end), counts, and the
transcript: every command with its answer, who answered (the card or the phone OS), status
words with their meanings, refusals and events. PIN data is already `**` in the records;
every value is escaped; long APDUs are shortened.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from conformance.html_report import REPORT_CSS, esc

SHOWN_BYTES = 48  # longer APDUs are shortened to this many bytes in the transcript
_EXTRA_CSS = """
td.t { white-space: nowrap; color: #666; } td.os { color: #6a3d9a; }
tr.event td { background: #fafafa; font-style: italic; }
.sw-ok { color: #17692c; } .sw-err { color: #b00020; }
"""


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; other lines are skipped."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _short(apdu: object) -> str:
    words = str(apdu).split()
    if len(words) <= SHOWN_BYTES:
        return " ".join(words)
    return " ".join(words[:SHOWN_BYTES]) + f" ... ({len(words)} bytes)"


def _facts(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    first = next((r for r in records if r.get("profile")), {})
    tap = next((r for r in records if str(r.get("event", "")).startswith("inserted")), {})
    facts = [
        ("Session", str(first.get("session") or (records[0].get("session") if records else ""))),
        ("Profile", str(first.get("profile", ""))),
        ("Persona", str(first.get("persona", ""))),
        ("Card", "own card" if first.get("slot") is None else f"slot {first.get('slot')}'s card"),
        ("First tap", str(tap.get("event", "(none)"))),
        ("UID", str(tap.get("uid") or "-")),
        ("Initial selected AID", str(tap.get("initial_selected_aid") or "-")),
        ("Client", str(first.get("peer", ""))),
        ("Started", str(records[0].get("time", "")) if records else ""),
        ("Ended", str(records[-1].get("time", "")) if records else ""),
    ]
    return facts


def _summary(records: Iterable[Mapping[str, Any]]) -> str:
    counts: Counter[str] = Counter()
    for record in records:
        direction = record.get("direction")
        if direction == "command":
            counts["commands"] += 1
        elif direction == "response":
            counts["answered by the OS" if record.get("origin") == "os" else "answered"] += 1
        elif str(record.get("event", "")).startswith("refused"):
            counts["refused"] += 1
    return ", ".join(f"{count} {what}" for what, count in counts.items()) or "no APDUs"


def _row(record: Mapping[str, Any]) -> str:
    time = esc(str(record.get("time", ""))[11:23])
    direction = record.get("direction")
    origin = record.get("origin")
    if direction == "event":
        return (
            f'<tr class="event"><td class="t">{time}</td><td colspan="4">'
            f"{esc(record.get('event', ''))}</td></tr>"
        )
    if direction == "command":
        who = "phone OS" if origin == "os" else "app"
        return (
            f'<tr><td class="t">{time}</td><td class="{esc(origin or "")}">{who} &gt;</td>'
            f"<td><code>{esc(_short(record.get('apdu', '')))}</code></td><td></td><td></td></tr>"
        )
    who = "phone OS" if origin == "os" else "card"
    sw = str(record.get("sw") or "")
    css = "sw-ok" if sw.startswith(("90", "61")) else "sw-err"
    return (
        f'<tr><td class="t">{time}</td><td class="{esc(origin or "")}">&lt; {who}</td>'
        f"<td><code>{esc(_short(record.get('apdu') or ''))}</code></td>"
        f'<td class="{css}"><code>{esc(sw)}</code></td><td>{esc(record.get("meaning", ""))}</td>'
        "</tr>"
    )


def render_trace_html(records: list[dict[str, Any]], title: str | None = None) -> str:
    """The page for one session's records."""
    session = next((str(r["session"]) for r in records if r.get("session")), "")
    title = title or f"mynasim bridge session {session}".strip()
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _facts(records))
    rows = "".join(
        _row(r) for r in records if r.get("direction") in ("command", "response", "event")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{REPORT_CSS}{_EXTRA_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<table class="meta">{facts}</table>',
        f"<p><strong>{esc(_summary(records))}</strong> (PIN data shown as <code>**</code>)</p>",
        "<h2>Transcript</h2>",
        "<table><tr><th>Time (UTC)</th><th>From</th><th>APDU</th><th>SW</th><th>Meaning</th>"
        f"</tr>{rows}</table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_trace_html(trace: Path, html: Path) -> None:
    """Render the JSON-lines trace `trace` of one bridge session into `html`."""
    html.write_text(render_trace_html(read_records(trace)), encoding="utf-8")
