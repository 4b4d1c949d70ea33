"""Verdicts and the machine-readable reports of the card conformance suite.

Standard library only: the pytest plugin imports this lazily, `mynasim card-check` reads
the JSON lines back to print its summary.

report.jsonl: a first line ``{"type": "run", ...}`` with the run's metadata (targets,
personas with checksums, tool versions, start/finish time, verdict counts), then one line
``{"type": "test", ...}`` per catalogue test and target (see `Result.to_json`; its
``title`` says in one line what the test checks, and may be missing in older reports).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.targets import Target

PASS = "PASS"  # noqa: S105 (a verdict)
FAIL = "FAIL"
ERROR = "ERROR"
NOT_APPLICABLE = "NOT APPLICABLE"
SKIPPED_DESTRUCTIVE = "SKIPPED-DESTRUCTIVE"
SKIPPED = "SKIPPED"  # skipped for another reason (a skip inside the test, skipif, ...)
XFAIL = "XFAIL"  # an expected failure (pytest.mark.xfail) that failed as expected

# In report order; the first five are the verdicts of the catalogue, the last two rare.
VERDICTS = (PASS, FAIL, ERROR, NOT_APPLICABLE, SKIPPED_DESTRUCTIVE, SKIPPED, XFAIL)
FAILING = frozenset({FAIL, ERROR})

REPORT_FORMAT = 1
JSONL_NAME = "report.jsonl"
HTML_NAME = "report.html"
JUNIT_NAME = "junit.xml"

_MESSAGE_LIMIT = 2000
_MESSAGE_LINES = 25


@dataclass
class Result:
    """The verdict of one catalogue test against one target."""

    spec_id: str
    section: str
    nodeid: str
    target: str | None
    verdict: str
    duration: float = 0.0
    message: str = ""
    transcript: list[str] = field(default_factory=list)
    title: str = ""  # one line: what the test checks (its docstring's first line)

    @property
    def area(self) -> str:
        return area_of(self.spec_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "test",
            "id": self.spec_id,
            "title": self.title,
            "section": self.section,
            "nodeid": self.nodeid,
            "target": self.target,
            "verdict": self.verdict,
            "duration": round(self.duration, 6),
            "message": self.message,
            "transcript": self.transcript,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Result:
        return cls(
            spec_id=str(obj["id"]),
            section=str(obj.get("section", "")),
            nodeid=str(obj.get("nodeid", "")),
            target=obj.get("target"),
            verdict=str(obj["verdict"]),
            duration=float(obj.get("duration", 0.0)),
            message=str(obj.get("message", "")),
            transcript=[str(line) for line in obj.get("transcript", [])],
            title=str(obj.get("title", "")),  # absent in reports written before titles
        )


def area_of(spec_id: str) -> str:
    """The ID without its number: JPKI-PIN-003 → JPKI-PIN, CARD-001 → CARD."""
    head, _, tail = spec_id.rpartition("-")
    return head if head and tail.isdigit() else spec_id


def skip_verdict(reason: str, *, not_applicable: str, destructive: str) -> str:
    """The verdict of a skip, told by its reason (the plugin's two skips, else SKIPPED)."""
    if reason.startswith(not_applicable):
        return NOT_APPLICABLE
    if reason.startswith(destructive):
        return SKIPPED_DESTRUCTIVE
    return SKIPPED


def shorten(text: str) -> str:
    """A failure message cut to a readable size."""
    lines = text.strip().splitlines()
    cut = "\n".join(lines[:_MESSAGE_LINES])
    if len(cut) > _MESSAGE_LIMIT:
        cut = cut[:_MESSAGE_LIMIT]
    if cut != text.strip():
        cut += "\n..."
    return cut


def count_verdicts(results: Iterable[Result]) -> Counter[str]:
    return Counter(result.verdict for result in results)


def summary_line(counts: Counter[str]) -> str:
    shown = [f"{counts[v]} {v}" for v in VERDICTS if counts[v]]
    shown += [f"{n} {v}" for v, n in sorted(counts.items()) if v not in VERDICTS]
    return ", ".join(shown) if shown else "no catalogue tests ran"


# ------------------------------------------------------------------------ secrets


def pin_values(targets: Sequence[Target]) -> set[bytes]:
    """Every PIN value the targets' personas declare (auth, sign, card-info PINs)."""
    found: set[bytes] = set()
    for target in targets:
        _collect_pins(target.persona, found, depth=0)
    return {value for value in found if value}


def _collect_pins(obj: object, found: set[bytes], depth: int) -> None:
    if depth > 4 or not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    value = getattr(obj, "value", None)
    if isinstance(value, bytes) and hasattr(obj, "max_tries"):  # a PinSpec
        found.add(value)
        return
    for item in dataclasses.fields(obj):
        _collect_pins(getattr(obj, item.name, None), found, depth + 1)


def redact_text(text: str, secrets: Iterable[bytes]) -> str:
    """`text` with every known PIN value (as text, hex, spaced hex or bytes repr) as `**`.

    Best effort for failure messages: the APDU transcripts are redacted by structure
    (`CardChannel.transcript_lines`); a message may still quote a PIN through an
    assertion's introspection.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        forms = {secret.hex(), secret.hex().upper(), secret.hex(" "), secret.hex(" ").upper()}
        try:
            forms.add(secret.decode("ascii"))
        except UnicodeDecodeError:
            pass
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= 2:
                text = re.sub(re.escape(form), "**", text, flags=re.IGNORECASE)
    return text


# ------------------------------------------------------------------------ metadata


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def tool_versions() -> dict[str, str]:
    versions = {
        "mynasim": _version("mynasim"),
        "python": platform.python_version(),
        "pytest": _version("pytest"),
        "cryptography": _version("cryptography"),
        "pyscard": _version("pyscard"),
    }
    return {name: value for name, value in versions.items() if value is not None}


def run_header(
    targets: Sequence[Target],
    *,
    started: dt.datetime,
    finished: dt.datetime,
    results: Sequence[Result],
    options: dict[str, Any],
    exit_status: int,
) -> dict[str, Any]:
    """The first line of report.jsonl (and the HTML report's header)."""
    personas: dict[str, str] = {}
    for target in targets:
        personas.setdefault(target.persona.name, target.persona.checksum)
    counts = count_verdicts(results)
    return {
        "type": "run",
        "format": REPORT_FORMAT,
        "tool": "mynasim card conformance",
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "targets": [
            {
                "id": target.id,
                "kind": target.kind,
                "virtual": target.virtual,
                "persona": target.persona.name,
                "persona_checksum": target.persona.checksum,
            }
            for target in targets
        ],
        "personas": [{"name": n, "checksum": c} for n, c in personas.items()],
        "options": options,
        "versions": tool_versions(),
        "exit_status": exit_status,
        "counts": {verdict: counts[verdict] for verdict in VERDICTS if counts[verdict]},
        "total": len(results),
    }


# ------------------------------------------------------------------------ JSON lines


def write_jsonl(path: Path, header: dict[str, Any], results: Iterable[Result]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for result in results:
            out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> tuple[dict[str, Any], list[Result]]:
    """(run header, results) of a report.jsonl."""
    header: dict[str, Any] = {}
    results: list[Result] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            obj = json.loads(line)
            if obj.get("type") == "run":
                header = obj
            elif obj.get("type") == "test":
                results.append(Result.from_json(obj))
    return header, results
