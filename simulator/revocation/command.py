"""``mynasim pki serve``: the test PKI's OCSP responder, CRLs and control API, in the foreground.

:func:`add_pki_parser` adds the ``pki`` command to the ``mynasim`` parser; :func:`run_pki`
carries it out. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from simulator.personalization import fixtures_root
from simulator.personalization.generate import PERSONAS_DIR
from simulator.service.serve import ServeError, parse_host_port

from .clock import Clock, format_instant, parse_instant
from .database import RevocationDatabase
from .failures import CrlMode, OcspMode, ResponderKind
from .server import PKI_PORT, RevocationServer, require_loopback_host
from .service import DEFAULT_NEXT_UPDATE, RevocationService

log = logging.getLogger("simulator.revocation")

EXIT_USAGE = 2
Output = Callable[[str], None]


class PkiServeError(ValueError):
    """The command line cannot be carried out; the message says why."""


def add_pki_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = sub.add_parser(
        "pki",
        help="serve the test PKI's revocation services (OCSP, CRLs)",
        description="Revocation services of the test PKI for relying parties under test.",
    )
    actions = pki.add_subparsers(dest="pki_action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="serve OCSP, CRLs and a control API on loopback, in the foreground",
        description="Serve an OCSP responder (POST/GET /ocsp/...), one CRL per CA generation "
        "(/crl/<hierarchy>-g<generation>.crl) and a control API (/control: clock, failure "
        "modes) for the CA generations and persona certificates of a fixtures tree. "
        "Ctrl-C or SIGTERM stop it.",
    )
    serve.add_argument(
        "--fixtures", type=Path, metavar="DIR", help="fixtures folder (default: the built-in one)"
    )
    serve.add_argument(
        "--persona", action="append", default=[], type=Path, metavar="PATH",
        help="an extra persona file whose certificates are served too; repeatable",
    )  # fmt: skip
    serve.add_argument(
        "--listen", default=f"127.0.0.1:{PKI_PORT}", metavar="HOST:PORT",
        help="where to listen, loopback only (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--now", metavar="ISO8601",
        help="fix the clock at this instant, e.g. 2027-01-01T00:00:00Z (default: real time)",
    )  # fmt: skip
    serve.add_argument(
        "--ocsp-mode", default=OcspMode.NORMAL.value, choices=[mode.value for mode in OcspMode],
        help="OCSP failure mode at start (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--crl-mode", default=CrlMode.NORMAL.value, choices=[mode.value for mode in CrlMode],
        help="CRL failure mode at start (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--responder", default=ResponderKind.DELEGATED.value,
        choices=[kind.value for kind in ResponderKind],
        help="who signs OCSP responses: a delegated responder certificate per CA generation, "
        "or the CA itself (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--next-update", type=int, default=int(DEFAULT_NEXT_UPDATE.total_seconds()),
        metavar="SECONDS", help="nextUpdate - thisUpdate of responses and CRLs "
        "(default: %(default)s)",
    )  # fmt: skip
    serve.add_argument("-v", "--verbose", action="store_true", help="log every request")
    control = actions.add_parser(
        "control",
        help="show or change a running `mynasim pki serve`: clock, failure modes, responder",
        description="Without settings: print the server's state (clock, modes, request "
        "counts). With settings: change them at once (validated as a whole).",
    )
    control.add_argument(
        "--url", default=f"http://127.0.0.1:{PKI_PORT}", help="the server (default: %(default)s)"
    )
    control.add_argument("--now", metavar="ISO8601|real", help="fix the clock, or 'real' time")
    control.add_argument("--ocsp", choices=[mode.value for mode in OcspMode], help="OCSP mode")
    control.add_argument("--crl", choices=[mode.value for mode in CrlMode], help="CRL mode")
    control.add_argument(
        "--responder", choices=[kind.value for kind in ResponderKind], help="OCSP signer"
    )


def run_pki(args: argparse.Namespace) -> int:
    """Carry out ``mynasim pki ...``; 2 with a message on stderr when the input is bad."""
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if args.pki_action == "control":
        return _run_control(args)
    if args.pki_action != "serve":  # the parser allows nothing else
        print(f"mynasim: error: unknown pki action {args.pki_action!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        server = _build(args)
    except (PkiServeError, ValueError, OSError) as error:
        print(f"mynasim: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return serve_until_signalled(server, out=lambda line: print(line, flush=True))


def _run_control(args: argparse.Namespace) -> int:
    from simulator.service.ctl import CtlError, call

    settings: dict[str, Any] = {}
    if args.now is not None:
        settings["now"] = None if args.now == "real" else args.now
    for key in ("ocsp", "crl", "responder"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    try:
        state = call(args.url, "POST" if settings else "GET", "/control", settings or None)
    except CtlError as error:
        print(f"mynasim: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(state, indent=2, ensure_ascii=False))
    return 0


def _parse_listen(text: str) -> tuple[str, int]:
    try:
        host, port = parse_host_port(text, "--listen")
    except ServeError as error:
        raise PkiServeError(str(error)) from None
    try:
        require_loopback_host(host)
    except ValueError as error:
        raise PkiServeError(f"--listen: {error}") from None
    return host, port


def _build(args: argparse.Namespace) -> RevocationServer:
    host, port = _parse_listen(args.listen)
    try:
        fixed = None if args.now is None else parse_instant(args.now)
    except ValueError as error:
        raise PkiServeError(f"--now: {error}") from None
    if args.next_update <= 0:
        raise PkiServeError("--next-update must be a positive number of seconds")
    root = args.fixtures if args.fixtures is not None else fixtures_root()
    if not root.is_dir():
        raise PkiServeError(f"--fixtures: {root} is not a folder")
    for persona in args.persona:
        if not persona.is_file():
            raise PkiServeError(f"--persona: {persona} is not a file")
    personas = None  # the fixtures' own personas ...
    if args.persona:  # ... plus the extra files
        personas = sorted((root / PERSONAS_DIR).glob("*.toml")) + list(args.persona)
    database = RevocationDatabase.from_fixtures(root, personas)
    service = RevocationService(
        database,
        clock=Clock(fixed),
        ocsp_mode=OcspMode(args.ocsp_mode),
        crl_mode=CrlMode(args.crl_mode),
        responder=ResponderKind(args.responder),
        next_update=dt.timedelta(seconds=args.next_update),
    )
    try:
        return RevocationServer(service, host, port)
    except OSError as error:
        raise PkiServeError(f"cannot listen on {args.listen}: {error.strerror or error}") from None


def describe(server: RevocationServer) -> list[str]:
    service = server.service
    ocsp_mode, crl_mode, responder = service.modes()
    database = service.database
    cas = database.authorities
    revoked = sum(1 for ca in cas for entry in ca.entries.values() if entry.revocation)
    lines = [
        f"mynasim pki serve: {len(cas)} CA generation(s), {database.certificate_count()} "
        f"certificate(s), {revoked} with revocation data",
        f"  OCSP:    {server.url}/ocsp/auth  (any path under /ocsp/; POST or GET; "
        f"responder {responder.value}, mode {ocsp_mode.value})",
        f"  CRLs:    mode {crl_mode.value}; also as .pem",
    ]
    now = service.clock.now()
    for ca, path in service.crls.paths():
        lines.append(
            f"    {server.url}{path}  ({ca.label}, {len(ca.entries)} certificate(s), "
            f"{len(ca.revoked(now))} revoked now)"
        )
    lines += [
        f"  control: {server.url}/control  (GET state; POST "
        '{"now": ..., "ocsp": ..., "crl": ..., "responder": ...})',
        f"  clock:   {service.clock.describe()}",
        f"stop with Ctrl-C or: kill -TERM {os.getpid()}",
    ]
    return lines


def serve_until_signalled(server: RevocationServer, out: Output = print) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly; 0."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        for line in describe(server):
            out(line)
        stop.wait()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out(f"mynasim pki serve: stopped at {format_instant(server.service.clock.now())}")
    return 0
