"""`mynasim fuzz card|rp`: the parser and the dispatch; each fuzzer adds its own options.

A fuzzer module provides ``add_arguments(parser)`` and ``run(args) -> int`` (exit status:
0 no finding, 1 findings, 2 bad arguments or a target that cannot start).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

FUZZERS = {
    "card": ("conformance.fuzz.card", "fuzz the card model in-process (invariants on every APDU)"),
    "rp": (
        "conformance.fuzz.rp",
        "fuzz relying-party software through pcscd: corrupt one response of a correct session",
    ),
}


def add_fuzz_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fuzz", help="fuzz the card model or relying-party software"
    )
    kinds = parser.add_subparsers(dest="fuzz_target", required=True, metavar="card|rp")
    for name, (module, text) in FUZZERS.items():
        child = kinds.add_parser(name, help=text, description=text)
        importlib.import_module(module).add_arguments(child)
    return parser


def run_fuzz_command(args: argparse.Namespace) -> int:
    module = importlib.import_module(FUZZERS[args.fuzz_target][0])
    status: int = module.run(args)
    return status
