"""The report folders the workbench page links to (`serve --ui --reports DIR`), served
read-only.

A DIR is a card-suite or rp-check report folder (holding report.html) or a folder of such
folders; every report.html up to three levels down is listed. Files are served only from
inside a DIR: the requested path is resolved (symlinks, `..`, percent-encoding) and refused
unless it stays inside, names a regular file and has a known type. A report runs no script
in the workbench's origin: it is sent with a sandboxing Content-Security-Policy.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_NAME = "report.html"
MAX_DEPTH = 3
MAX_FILE = 64 * 1024 * 1024  # bytes
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jsonl": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
REPORT_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'"
)


class ReportError(LookupError):
    """No such report file (or one outside the folders); the message says which."""


@dataclass(frozen=True)
class ReportFile:
    content_type: str
    body: bytes


class ReportShelf:
    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = [Path(folder).resolve() for folder in folders]

    def listing(self) -> list[dict[str, Any]]:
        """Every report.html: {"title", "url", "folder", "modified"}, newest first."""
        found: list[dict[str, Any]] = []
        for index, root in enumerate(self.folders):
            for path in _reports_under(root):
                relative = path.relative_to(root).as_posix()
                modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
                found.append(
                    {
                        "title": path.parent.name or root.name,
                        "url": f"/reports/{index}/{urllib.parse.quote(relative)}",
                        "folder": str(path.parent),
                        "modified": modified.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    }
                )
        found.sort(key=lambda item: str(item["modified"]), reverse=True)
        return found

    def open(self, index_text: str, relative: str) -> ReportFile:
        """The file at `relative` (percent-encoded, as in the URL) in folder number
        `index_text`; ReportError unless it is a regular file of a known type inside it."""
        if not (index_text.isascii() and index_text.isdigit()):
            raise ReportError(f"no report folder {index_text!r}")
        index = int(index_text)
        if index >= len(self.folders):
            raise ReportError(f"no report folder {index}")
        root = self.folders[index]
        name = urllib.parse.unquote(relative)
        try:
            path = (root / name).resolve()
            inside = path.is_relative_to(root) and path != root
            regular = inside and path.is_file()
            size = path.stat().st_size if regular else 0
        except (OSError, ValueError):  # a NUL byte, a loop of symlinks
            inside = regular = False
            size = 0
        if not inside or not regular:
            raise ReportError(f"no such report file: {name!r}")
        kind = CONTENT_TYPES.get(path.suffix.lower())
        if kind is None or size > MAX_FILE:
            raise ReportError(f"not a report file: {name!r}")
        return ReportFile(kind, path.read_bytes())


def _reports_under(root: Path) -> list[Path]:
    found: list[Path] = []
    level = [root]
    for _ in range(MAX_DEPTH + 1):
        following: list[Path] = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name == REPORT_NAME and entry.is_file():
                    found.append(entry)
                elif entry.is_dir() and not entry.is_symlink() and not entry.name.startswith("."):
                    following.append(entry)
        level = following
    return found
