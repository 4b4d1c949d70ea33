"""The card workbench: a page on the control endpoint to watch and steer served cards
(`mynasim serve --ui`).

GET /                      the page (server-rendered from the cards' status)
GET /ui/workbench.js       its one script (no framework, no build step), /ui/workbench.css
GET /reports               the report.html files of the --reports folders (JSON)
GET /reports/<n>/<path>    a file of report folder n, read-only (see .reports)

Everything else the page uses is the control endpoint itself: GET /status and GET /trace
(long polling on the in-memory trace hub), and the POST routes, which need the run's token.
The page takes the token from its URL fragment (`#token=...`, never sent to a server, so
never in a log or a Referer), keeps it in the tab's sessionStorage and sends it in the
X-Mynasim-Token header. A page of another origin cannot read the token, nor the answers
(no CORS headers), and its POSTs are refused (Origin check, no token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.personalization.persona import builtin_personas
from simulator.service.control import UNHANDLED, ControlError, Request
from simulator.service.loopback import Reply
from simulator.service.workbench.page import render_page
from simulator.service.workbench.reports import REPORT_POLICY, ReportError, ReportShelf

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC = {
    "/ui/workbench.js": ("workbench.js", "text/javascript; charset=utf-8"),
    "/ui/workbench.css": ("workbench.css", "text/css; charset=utf-8"),
}


class Workbench:
    """The page's routes (an Extension of the ControlServer). `cards` and `pki` give the
    live status and the PKI state (None without --pki) when the page is rendered."""

    def __init__(
        self,
        cards: Callable[[], list[dict[str, Any]]],
        *,
        pki: Callable[[], dict[str, Any]] | None = None,
        reports: Sequence[Path] = (),
    ) -> None:
        self.cards = cards
        self.pki = pki
        self.shelf = ReportShelf(reports)

    def get(self, request: Request) -> Any:
        path = request.path
        if path in ("/", "/ui", "/ui/"):
            return self._page()
        if path in STATIC:
            name, kind = STATIC[path]
            data = resources.files(__package__).joinpath("static", name).read_bytes()
            return Reply(HTTPStatus.OK, kind, data)
        if path == "/reports":
            return {"reports": self.shelf.listing()}
        if path.startswith("/reports/"):
            index, _, relative = path[len("/reports/") :].partition("/")
            try:
                found = self.shelf.open(index, relative)
            except ReportError as exc:
                raise ControlError(HTTPStatus.NOT_FOUND, str(exc)) from None
            return Reply(
                HTTPStatus.OK,
                found.content_type,
                found.body,
                (("Content-Security-Policy", REPORT_POLICY), ("Referrer-Policy", "no-referrer")),
            )
        return UNHANDLED

    def _page(self) -> Reply:
        html = render_page(
            self.cards(),
            builtin_personas(),
            None if self.pki is None else self.pki(),
            self.shelf.listing(),
        )
        return Reply(
            HTTPStatus.OK,
            "text/html; charset=utf-8",
            html.encode(),
            (
                ("Content-Security-Policy", PAGE_POLICY),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "no-referrer"),
            ),
        )
