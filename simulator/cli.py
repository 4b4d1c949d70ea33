"""The `mynasim` command line.

mynasim demo                      guided in-process session (default persona)
mynasim apdu [HEX ...]            send APDUs to an in-process card (or from stdin)
mynasim personalize [--check]     regenerate / check the committed test PKI
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from conformance.card_check import add_card_check_parser, run_card_check_command
from conformance.fuzz.command import add_fuzz_parser, run_fuzz_command
from conformance.rp.check import add_rp_check_parser, run_rp_check_command
from simulator import __version__
from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import describe
from simulator.card import VirtualCard
from simulator.card.card import TRAFFIC
from simulator.personalization.describe import DescriptionError, build_from_description
from simulator.personalization.hierarchy import PkiError
from simulator.personalization.images import ImageToolError
from simulator.personalization.persona import PersonaError, builtin_personas, fixtures_root
from simulator.revocation.command import add_pki_parser, run_pki
from simulator.service import ctl
from simulator.service.control import CONTROL_PORT, PkiControl
from simulator.service.ctl import CtlError
from simulator.service.serve import (
    ServeError,
    ServeOptions,
    parse_host_port,
    parse_listen,
    run_server,
)
from simulator.state import StateFileError
from simulator.transport.vpcd import VPCD_PORT

EXIT_USAGE = 2


def _persona_help() -> str:
    try:
        names = ", ".join(builtin_personas())
    except OSError:
        names = "default"
    return f"persona name ({names}) or path to a persona .toml file (default: default)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mynasim",
        description="A virtual Japanese Individual Number Card (マイナンバーカード) for testing.",
    )
    parser.add_argument("--version", action="version", version=f"mynasim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="walk through JPKI with an in-process card")
    demo.add_argument("--persona", default="default", help=_persona_help())

    apdu = sub.add_parser(
        "apdu",
        help="send hex APDUs to an in-process card",
        description="Send command APDUs (hex, spaces allowed) to an in-process card and print "
        "each response with its decoded status word. Without APDU arguments, reads one per "
        "line from stdin ('#' starts a comment; the words 'reset' and 'power-cycle' act on "
        "the card). PIN data is always shown as '**'.",
    )
    apdu.add_argument("apdus", nargs="*", metavar="HEX", help="command APDU in hex")
    apdu.add_argument("--persona", default="default", help=_persona_help())
    apdu.add_argument("--state", metavar="FILE", help="card state file (created if absent)")
    apdu.add_argument(
        "--trace", action="store_true", help="log every APDU at TRAFFIC level to stderr"
    )

    perso = sub.add_parser(
        "personalize",
        help="build a persona from a description, or regenerate/check the test PKI",
        description="With --describe: build a new persona (card contents + certificates) from "
        "a short description file into --out (a fixtures-layout folder; serve it with "
        "`mynasim serve --persona OUT/personas/NAME.toml`). Without: regenerate the "
        "certificates of a fixtures folder from its personas and keys, or --check them.",
    )
    perso.add_argument("--describe", type=Path, metavar="FILE", help="a persona description (TOML)")
    perso.add_argument("--fixtures", type=Path, help="fixtures folder (default: the built-in one)")
    perso.add_argument("--out", type=Path, help="write here instead of into the fixtures folder")
    perso.add_argument(
        "--check", action="store_true", help="only check that regeneration is byte-identical"
    )
    perso.add_argument(
        "--new-keys", action="store_true", help="create missing private keys (random)"
    )
    _add_serve(sub)
    _add_ctl(sub)
    add_pki_parser(sub)
    add_card_check_parser(sub)
    add_rp_check_parser(sub)
    add_fuzz_parser(sub)
    return parser


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve cards behind pcscd's virtual reader (vpcd), in the foreground",
        description="Serve one card per --persona, card n in vpcd slot n (port PORT+n, "
        "reader 'Virtual PCD 00 0n'). Needs pcscd with vsmartcard-vpcd; the cards wait "
        "and reconnect while pcscd is away. Ctrl-C or SIGTERM stop it.",
    )
    serve.add_argument(
        "--persona", action="append", metavar="NAME|PATH", help=_persona_help() + "; repeatable"
    )
    serve.add_argument(
        "--state", action="append", default=[], type=Path, metavar="FILE",
        help="state file of the n-th card (created if absent); repeatable",
    )  # fmt: skip
    serve.add_argument(
        "--vpcd", default=f"127.0.0.1:{VPCD_PORT}", metavar="HOST:PORT",
        help="where vpcd listens for slot 0 (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--listen", nargs="?", const="", metavar="[HOST][:PORT]",
        help="instead of connecting to vpcd, listen for a reader front end such as the "
        "ACardEmulator phone app (vicc --reversed role): slot n on PORT+n. HOST defaults to "
        f"127.0.0.1 (adb reverse), PORT to {VPCD_PORT}; 0.0.0.0 or [::] for a phone on the LAN; "
        "PORT 0: a free port per slot",
    )  # fmt: skip
    serve.add_argument(
        "--control", default=f"127.0.0.1:{CONTROL_PORT}", metavar="HOST:PORT|none",
        help="control endpoint, loopback only (default: %(default)s; 'none' to disable)",
    )  # fmt: skip
    serve.add_argument("--trace", type=Path, metavar="FILE", help="APDU trace, JSON lines")
    serve.add_argument(
        "--ui", action="store_true",
        help="serve the card workbench page on the control endpoint (its URL, with the "
        "run's token, is printed at start)",
    )  # fmt: skip
    serve.add_argument(
        "--ui-open", action="store_true", help="with --ui: open the page in a browser"
    )
    serve.add_argument(
        "--reports", action="append", default=[], type=Path, metavar="DIR",
        help="with --ui: list the report.html files of this card-check / rp-check report "
        "folder (or a folder of them) on the page; repeatable",
    )  # fmt: skip
    serve.add_argument(
        "--pki", nargs="?", const="127.0.0.1:35980", metavar="HOST:PORT",
        help="also serve the test PKI (OCSP, CRLs; as `mynasim pki serve`) here, default "
        "%(const)s; its clock and failure modes are set through the control endpoint "
        "(GET/POST /pki) and the workbench",
    )  # fmt: skip
    serve.add_argument(
        "--interface", choices=("contact", "contactless"),
        help="present every card on this interface, whatever its persona's [card] interface "
        "says: contactless = a PC/SC part-3 Type B reader (its ATR 3B 88 80 01 ..., FF CA "
        "answered by the reader, a new PUPI per insertion); see docs/phone/contactless.md",
    )  # fmt: skip
    _add_bridge_options(serve)
    serve.add_argument("-v", "--verbose", action="store_true", help="log every connection event")


def _add_bridge_options(serve: argparse.ArgumentParser) -> None:
    """serve's WebSocket APDU bridge (docs/phone/bridge-protocol.md)."""
    serve.add_argument(
        "--bridge", metavar="ws://HOST:PORT",
        help="also serve the WebSocket APDU bridge for phone apps and their tests here "
        "(e.g. ws://127.0.0.1:8765; port 0: a free one, printed): one connection = one tap of "
        "a fresh card",
    )  # fmt: skip
    serve.add_argument(
        "--bridge-persona", default="default", metavar="NAME|PATH",
        help="persona of bridge sessions whose hello names none (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--bridge-shared", action="store_true",
        help="bridge sessions use slot 0's card (its PIN counters, under its lock) instead "
        "of a fresh card each",
    )  # fmt: skip
    serve.add_argument(
        "--bridge-report", type=Path, metavar="DIR",
        help="write each bridge session's trace to DIR/<session>.jsonl and an HTML page to "
        "DIR/<session>.html",
    )  # fmt: skip
    serve.add_argument(
        "--no-vpcd", action="store_true",
        help="do not connect the cards to vpcd/pcscd (serve only the bridge, the control "
        "endpoint and --listen front ends)",
    )  # fmt: skip


def _add_ctl(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ctl = sub.add_parser("ctl", help="steer a running `mynasim serve` (insert, remove, ...)")
    ctl.add_argument(
        "--control", default=f"127.0.0.1:{CONTROL_PORT}", metavar="HOST:PORT",
        help="the server's control endpoint (default: %(default)s)",
    )  # fmt: skip
    ctl.add_argument(
        "--token", metavar="TOKEN",
        help="the run's control token (default: $MYNASIM_TOKEN, else the token file serve "
        "wrote for this port in $MYNASIM_RUNTIME_DIR)",
    )  # fmt: skip
    actions = ctl.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="show every served card")
    for name, text in (("insert", "put the card back"), ("reset", "reset the card")):
        actions.add_parser(name, help=text).add_argument("--slot", type=int, default=0)
    remove = actions.add_parser("remove", help="take the card out (now, or armed)")
    remove.add_argument("--slot", type=int, default=0)
    remove.add_argument(
        "--on-ins", metavar="INS",
        help="arm: remove the card during the next command with this INS (hex, or verify/sign)",
    )  # fmt: skip
    remove.add_argument(
        "--when", choices=("before", "after"), default="after",
        help="armed removal before the card processes the command, or after (default; the "
        "response is never sent)",
    )  # fmt: skip
    remove.add_argument(
        "--skip", type=int, default=0, metavar="N",
        help="with --on-ins: let N such commands pass first (--skip 1 removes on the 2nd)",
    )  # fmt: skip
    retries = actions.add_parser("set-retries", help="set a PIN's remaining tries")
    retries.add_argument("pin", help="auth, sign, or a key such as jpki/0018")
    retries.add_argument("remaining", type=int)
    retries.add_argument("--slot", type=int, default=0)
    persona = actions.add_parser(
        "persona",
        help="serve another persona in place (the card stays inserted)",
        description="Swap the served card for another persona: the card stays in the reader "
        "and keeps its power state; security status is fresh and armed removals and faults "
        "are cleared. Refused for an unknown persona or another slot's identity.",
    )
    persona.add_argument(
        "persona", metavar="NAME|PATH",
        help="a built-in persona (listed by `mynasim serve --help`) or a persona .toml file",
    )  # fmt: skip
    persona.add_argument(
        "--state", type=Path, metavar="FILE",
        help="state file of the new card (created if absent; default: state in memory)",
    )  # fmt: skip
    persona.add_argument("--slot", type=int, default=0)
    fault = actions.add_parser(
        "fault",
        help="arm a response fault on an INS (or --clear them)",
        description="Change the card's response to the next --times commands with INS, "
        "after letting --skip of them pass (the card processes them normally): hold it back "
        "--delay SECONDS, --flip its last bit, --truncate N data bytes, send --sw XXXX "
        "instead of the status word, break the DER length of its data (--der), send 61xx and "
        "the data on GET RESPONSE (--chain61), send 6Cxx (--wrong-le), send a bare 9000 "
        "without the data (--empty), or answer a COMPUTE DIGITAL SIGNATURE with the other "
        "JPKI key's signature over the same data (--other-key).",
    )
    fault.add_argument("--slot", type=int, default=0)
    fault.add_argument("--ins", metavar="INS", help="hex (2A) or verify, sign, read-binary, select")
    kinds = fault.add_mutually_exclusive_group(required=True)
    kinds.add_argument("--delay", type=float, metavar="SECONDS", help="hold the response back")
    kinds.add_argument("--flip", action="store_true", help="flip the last bit of the data")
    kinds.add_argument("--truncate", type=int, metavar="N", help="cut N bytes off the data")
    kinds.add_argument("--sw", metavar="XXXX", help="send this status word instead")
    kinds.add_argument("--clear", action="store_true", help="disarm every fault")
    kinds.add_argument(
        "--chain61", action="store_true",
        help="answer 61xx (xx: data length, 00 for 256 or more) and give the data, with the "
        "real SW, to the client's GET RESPONSE (00 C0 00 00 Le)",
    )  # fmt: skip
    kinds.add_argument(
        "--wrong-le", action="store_true",
        help="answer 6Cxx (xx: data length), no data; the client resends with Le=xx",
    )  # fmt: skip
    kinds.add_argument(
        "--empty", action="store_true",
        help="answer 90 00 alone: no data at all (a torn answer: no signature bytes)",
    )  # fmt: skip
    kinds.add_argument(
        "--other-key", action="store_true",
        help="INS 2A only: answer the signature the OTHER JPKI key (auth 0017 <-> sign 001A) "
        "makes over the same data, with 9000: well-formed, but it does not verify under the "
        "certificate of the key the client chose",
    )  # fmt: skip
    kinds.add_argument(
        "--der", action="store_true",
        help="break the length octets of the data's outermost DER TLV (30 82 06 6F -> 30 82 "
        "FF FF); data that is not DER gets its first byte inverted",
    )  # fmt: skip
    fault.add_argument(
        "--times", type=int, metavar="N",
        help="how many matching commands (default 1; 0: every one until --clear)",
    )  # fmt: skip
    fault.add_argument(
        "--skip", type=int, metavar="N",
        help="let N matching commands pass unchanged first (default 0: --skip 2 targets the "
        "3rd)",
    )  # fmt: skip
    fault.set_defaults(fault_parser=fault)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from simulator.demo import run_demo

            return run_demo(VirtualCard.from_persona(args.persona))
        if args.command == "apdu":
            return _run_apdu(args)
        if args.command == "serve":
            return _run_serve(args)
        if args.command == "ctl":
            return _run_ctl(args)
        if args.command == "pki":
            return run_pki(args)
        if args.command == "card-check":
            return run_card_check_command(args)
        if args.command == "rp-check":
            return run_rp_check_command(args)
        if args.command == "fuzz":
            return run_fuzz_command(args)
        return _run_personalize(args)
    except (
        PersonaError, PkiError, StateFileError, ServeError, CtlError, DescriptionError,
        ImageToolError,
    ) as exc:  # fmt: skip
        print(f"mynasim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run_apdu(args: argparse.Namespace) -> int:
    if args.trace:
        logging.basicConfig(level=TRAFFIC, format="%(name)s %(levelname)s %(message)s")
    card = VirtualCard.from_persona(args.persona, state=args.state, strict=False)
    print(f"ATR {card.power_on().hex(' ').upper()}")
    lines: Iterable[str] = args.apdus if args.apdus else sys.stdin
    return _send_lines(card, lines, sys.stdout)


def _send_lines(card: VirtualCard, lines: Iterable[str], out: TextIO) -> int:
    status = 0
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if text in ("reset", "power-cycle"):
            if text == "power-cycle":
                card.power_off()
            print(f"{text}: ATR {card.power_on().hex(' ').upper()}", file=out)
            continue
        try:
            raw = bytes.fromhex(text.replace(":", " "))
        except ValueError:
            print(f"mynasim: error: APDU {number} is not hex: {text[:40]!r}", file=sys.stderr)
            status = 1
            continue
        response = card.transmit(raw)
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        print(f"> {redacted_hex(raw)}", file=out)
        print(f"< {(data.hex(' ').upper() + ' ') if data else ''}{describe(sw)}", file=out)
    return status


def _run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    vpcd_host, vpcd_port = parse_host_port(args.vpcd, "--vpcd")
    listen = None if args.listen is None else parse_listen(args.listen, args.vpcd)
    control = None if args.control == "none" else parse_host_port(args.control, "--control")
    options = ServeOptions(
        personas=args.persona or ["default"],
        states=args.state,
        vpcd_host=vpcd_host,
        vpcd_port=vpcd_port,
        listen=listen,
        control=control,
        trace=args.trace,
        interface=args.interface,
        ui=args.ui or args.ui_open,
        ui_open=args.ui_open,
        reports=args.reports,
        pki=_serve_pki(args),
        **_bridge_options(args),
    )
    return run_server(options, out=lambda line: print(line, flush=True))


def _bridge_options(args: argparse.Namespace) -> dict[str, Any]:
    """The bridge's ServeOptions; its HTML session pages come from conformance (imported
    here, lazily: the service layer may not import it)."""
    if args.bridge is None:
        if args.bridge_shared or args.bridge_report is not None:
            raise ServeError("--bridge-shared and --bridge-report need --bridge ws://HOST:PORT")
        return {"no_vpcd": args.no_vpcd}
    from simulator.transport.bridge import parse_ws_url

    try:
        bridge = parse_ws_url(args.bridge)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    render = None
    if args.bridge_report is not None:
        from conformance.trace_report import write_trace_html

        render = write_trace_html
    return {
        "bridge": bridge,
        "bridge_persona": args.bridge_persona,
        "bridge_shared": args.bridge_shared,
        "bridge_report": args.bridge_report,
        "bridge_render": render,
        "no_vpcd": args.no_vpcd,
    }


def _serve_pki(args: argparse.Namespace) -> PkiControl | None:
    """serve --pki: the revocation services, built here (the service layer cannot import
    them), started and stopped by serve."""
    if args.pki is None:
        return None
    from simulator.revocation.inprocess import InProcessPki
    from simulator.revocation.server import require_loopback_host

    host, port = parse_host_port(args.pki, "--pki")
    try:
        require_loopback_host(host)
        files = [Path(p) for p in args.persona or [] if p not in builtin_personas()]
        return InProcessPki(host, port, files)
    except (OSError, ValueError) as exc:
        raise ServeError(f"--pki {args.pki}: {getattr(exc, 'strerror', None) or exc}") from None


def _run_ctl(args: argparse.Namespace) -> int:
    base = args.control if "://" in args.control else f"http://{args.control}"

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return ctl.call(base, method, path, body, token=args.token)

    if args.action == "status":
        cards = call("GET", "/status")["cards"]
    elif args.action == "set-retries":
        body = {"remaining": args.remaining}
        cards = [call("POST", f"/cards/{args.slot}/pins/{args.pin}", body)]
    elif args.action == "persona":
        body = ctl.persona_body(args.persona, args.state)
        cards = [call("POST", f"/cards/{args.slot}/persona", body)]
    elif args.action == "fault":
        path, body = _fault_request(args)
        cards = [call("POST", f"/cards/{args.slot}{path}", body)]
    elif args.action == "remove" and args.on_ins:
        body = {"ins": args.on_ins, "when": args.when}
        if args.skip:  # a negative one is refused by the server
            body["skip"] = args.skip
        cards = [call("POST", f"/cards/{args.slot}/remove", body)]
    else:
        cards = [call("POST", f"/cards/{args.slot}/{args.action}", {})]
    for card in cards:
        print("\n".join(ctl.format_status(card)))
    return 0


def _fault_request(args: argparse.Namespace) -> tuple[str, dict[str, object]]:
    """The control path and body for `ctl fault`; usage errors exit 2 like argparse's."""
    parser: argparse.ArgumentParser = args.fault_parser
    if args.clear:
        if args.ins is not None or args.times is not None or args.skip is not None:
            parser.error("--clear takes no --ins or --times (nor --skip)")
        return "/faults/clear", {}
    if args.ins is None:
        parser.error("--ins is required to arm a fault")
    body: dict[str, object] = {"ins": args.ins, "times": 1 if args.times is None else args.times}
    if args.skip:  # 0 is the default; a negative one is refused by the server
        body["skip"] = args.skip
    if args.delay is not None:
        body.update(kind="delay", seconds=args.delay)
    elif args.flip:
        body.update(kind="flip")
    elif args.truncate is not None:
        body.update(kind="truncate", length=args.truncate)
    elif args.chain61:
        body.update(kind="chain61")
    elif args.wrong_le:
        body.update(kind="wrong-le")
    elif args.der:
        body.update(kind="der")
    elif args.empty:
        body.update(kind="empty")
    elif args.other_key:
        body.update(kind="other-key")
    else:
        body.update(kind="sw", sw=args.sw)
    return "/faults", body


def _run_personalize(args: argparse.Namespace) -> int:
    from simulator.personalization.generate import check, regenerate

    if args.describe is not None:
        if args.out is None:
            raise DescriptionError("--describe needs --out DIR (where the persona is written)")
        persona = build_from_description(args.describe, args.out, progress=print)
        print(f"persona written: {persona}")
        print(f"serve it with: mynasim serve --persona {persona}")
        return 0
    root = args.fixtures or fixtures_root()
    if args.check:
        differing = check(root)
        for path in differing:
            print(f"differs: {path}")
        print("up to date" if not differing else f"{len(differing)} file(s) differ")
        return 1 if differing else 0
    written = regenerate(root, args.out, allow_new_keys=args.new_keys, progress=print)
    print(f"{len(written)} file(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
