"""The human-readable conformance report: one self-contained HTML file.

Inline CSS, no scripts, no external assets; every value from the run is escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from conformance.report import FAILING, PASS, VERDICTS, Result, count_verdicts, summary_line

REPORT_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
.v-PASS { color: #17692c; } .v-FAIL, .v-ERROR { color: #b00020; font-weight: bold; }
.v-NOT-APPLICABLE, .v-SKIPPED-DESTRUCTIVE, .v-SKIPPED, .v-XFAIL { color: #666; }
.failure { border-left: 4px solid #b00020; padding-left: 1em; margin: 1.5em 0; }
.meta th { width: 12em; }
"""


def esc(value: object) -> str:
    """`value` as text safe inside HTML elements and quoted attributes."""
    return escape(str(value), quote=True)


def _vclass(verdict: str) -> str:
    return "v-" + "".join(c if c.isalnum() else "-" for c in verdict)


def _verdict(verdict: str) -> str:
    return f'<span class="{_vclass(verdict)}">{esc(verdict)}</span>'


def _header(header: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = []
    rows.append(("Started", esc(header.get("started", ""))))
    rows.append(("Finished", esc(header.get("finished", ""))))
    targets = header.get("targets", [])
    rows.append(
        (
            "Targets",
            "<br>".join(
                f"<code>{esc(t.get('id'))}</code> ({esc(t.get('kind'))}, "
                f"{'virtual' if t.get('virtual') else 'real card'})"
                for t in targets
            )
            or "(none)",
        )
    )
    rows.append(
        (
            "Personas",
            "<br>".join(
                f"<code>{esc(p.get('name'))}</code> sha256 <code>{esc(p.get('checksum'))}</code>"
                for p in header.get("personas", [])
            )
            or "(none)",
        )
    )
    versions = header.get("versions", {})
    rows.append(("Versions", ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items())))
    options = header.get("options", {})
    if options:
        rows.append(("Options", ", ".join(f"{esc(k)}={esc(v)}" for k, v in options.items())))
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return [f'<table class="meta">{body}</table>']


def _summary(results: Sequence[Result]) -> list[str]:
    by_area: dict[str, Counter[str]] = {}
    for result in results:
        by_area.setdefault(result.area, Counter())[result.verdict] += 1
    totals = count_verdicts(results)
    columns = [v for v in VERDICTS if v in VERDICTS[:5] or totals[v]]
    columns += sorted(v for v in totals if v not in VERDICTS)
    head = "".join(f"<th>{esc(v)}</th>" for v in columns)
    out = [
        f"<p><strong>{esc(summary_line(totals))}</strong> ({len(results)} in all)</p>",
        f"<table><tr><th>Area</th>{head}<th>Total</th></tr>",
    ]
    for area in sorted(by_area):
        counts = by_area[area]
        cells = "".join(f'<td class="n">{counts[v] or ""}</td>' for v in columns)
        out.append(
            f"<tr><td><code>{esc(area)}</code></td>{cells}"
            f'<td class="n">{sum(counts.values())}</td></tr>'
        )
    cells = "".join(f'<td class="n"><strong>{totals[v]}</strong></td>' for v in columns)
    out.append(f'<tr><th>All</th>{cells}<td class="n"><strong>{len(results)}</strong></td></tr>')
    out.append("</table>")
    return out


def _title(result: Result) -> str:
    return f" {esc(result.title)}" if result.title else ""


def _failures(results: Sequence[Result]) -> list[str]:
    failed = [r for r in results if r.verdict in FAILING]
    if not failed:
        return ["<p>None.</p>"]
    out: list[str] = []
    for result in failed:
        transcript = "\n".join(result.transcript) or "(no APDUs exchanged)"
        out.append(
            '<div class="failure">'
            f"<h3><code>{esc(result.spec_id)}</code>{_title(result)} on "
            f"<code>{esc(result.target)}</code>: {_verdict(result.verdict)}</h3>"
            f"<p>Section {esc(result.section) or '-'} &middot; <code>{esc(result.nodeid)}</code>"
            f" &middot; {result.duration:.3f} s</p>"
            f"<p>Message:</p><pre>{esc(result.message)}</pre>"
            f"<p>APDU transcript (PIN data shown as <code>**</code>):</p>"
            f"<pre>{esc(transcript)}</pre>"
            "</div>"
        )
    return out


def _full_list(results: Sequence[Result]) -> list[str]:
    out = [
        "<table><tr><th>ID</th><th>Title</th><th>Section</th><th>Target</th><th>Verdict</th><th>Note</th></tr>"
    ]
    for result in sorted(results, key=lambda r: (r.spec_id, r.target or "", r.nodeid)):
        note = "" if result.verdict == PASS else (result.message.splitlines() or [""])[0]
        out.append(
            f"<tr><td><code>{esc(result.spec_id)}</code></td><td>{esc(result.title)}</td>"
            f"<td>{esc(result.section)}</td>"
            f"<td><code>{esc(result.target)}</code></td><td>{_verdict(result.verdict)}</td>"
            f"<td>{esc(note)}</td></tr>"
        )
    out.append("</table>")
    return out


def render_html(header: dict[str, Any], results: Sequence[Result]) -> str:
    title = "mynasim card conformance report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        *_header(header),
        "<h2>Summary by area</h2>",
        *_summary(results),
        "<h2>Failures and errors</h2>",
        *_failures(results),
        "<h2>All tests</h2>",
        *_full_list(results),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(path: Path, header: dict[str, Any], results: Sequence[Result]) -> None:
    path.write_text(render_html(header, results), encoding="utf-8")
