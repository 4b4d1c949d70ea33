"""Benchmarks through the real PC/SC stack (issue 3 targets), against an echo card.

    python benchmarks/pcsc.py [--quick] [--check] [--json FILE]

Needs pcscd with vsmartcard-vpcd (started here if none runs) and pyscard.
- round trip: pyscard -> pcscd -> vpcd -> card, per APDU, for SELECT EF and READ BINARY of
  256 bytes, against the echo card (benchmarks/echo_card.py) served the same way in the same
  run, batches alternating: median ratio (target <= 1.10). Two echo cards are measured: the
  plain one (9000 to everything) and the sized one (READ BINARY answered with as many bytes
  as the real card), because moving 256 more bytes through pyscard, pcscd and vpcd costs
  more than the card's own work; the target is judged against the sized echo;
- startup: `mynasim serve` start until pcscd reports the card present (target < 1 s);
- certificate read: the authentication certificate read the way OpenSC reads it (SELECT EF,
  4-byte header, 256-byte pages): reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smartcard.System import readers  # noqa: E402

from conformance.pcsc import wait_for_card  # noqa: E402
from conformance.stack import Pcscd, ServedCard, reader_name  # noqa: E402

SELECT_JPKI = list(bytes.fromhex("00A4040C0AD392F000260100000001"))
SELECT_EF = list(bytes.fromhex("00A4020C02000A"))
READ_256 = list(bytes.fromhex("00B0000000"))


def _connect(name: str) -> Any:
    reader = next(r for r in readers() if str(r) == name)
    connection = reader.createConnection()
    connection.connect()
    return connection


def _timed(connection: Any, apdu: list[int], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        connection.transmit(apdu)
        times.append(time.perf_counter() - start)
    return times


def _card_and_echo(sized: bool) -> subprocess.Popen[bytes]:
    """The default persona (slot 0, served by mynasim's Server) and the echo card (slot 1)
    in one process."""
    time.sleep(2.2)  # the slots may just have been left: pcscd misses a quick re-insertion
    command = [sys.executable, str(ROOT / "benchmarks" / "echo_card.py"), "--beside", "default"]
    process = subprocess.Popen([*command, *(["--sized"] if sized else [])])  # noqa: S603
    wait_for_card(reader_name(0), True, 10)
    wait_for_card(reader_name(1), True, 10)
    return process


def bench_round_trip(card: Any, echo: Any, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, apdu in (("select_ef", SELECT_EF), ("read_binary_256", READ_256)):
        card_times: list[float] = []
        echo_times: list[float] = []
        for _ in range(5 if quick else 20):
            card_times += _timed(card, apdu, 50)
            echo_times += _timed(echo, apdu, 50)
        ratio = statistics.median(card_times) / statistics.median(echo_times)
        out[label] = {
            "card_median_us": statistics.median(card_times) * 1e6,
            "echo_median_us": statistics.median(echo_times) * 1e6,
            "ratio": ratio,
            "target_ratio": 1.10,
            "ok": ratio <= 1.10,
        }
    return out


def bench_certificate_read(card: Any, quick: bool) -> dict[str, Any]:
    def read_once() -> int:
        card.transmit(SELECT_EF)
        head, _, _ = card.transmit(list(bytes.fromhex("00B0000004")))
        size = (head[2] << 8 | head[3]) + 4
        done = 0
        while done < size:
            chunk = min(256, size - done)
            data, _, _ = card.transmit([0x00, 0xB0, done >> 8, done & 0xFF, chunk & 0xFF])
            done += len(data)
        return size

    times = []
    size = 0
    for _ in range(10 if quick else 50):
        start = time.perf_counter()
        size = read_once()
        times.append(time.perf_counter() - start)
    return {"certificate_bytes": size, "median_ms": statistics.median(times) * 1e3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, Pcscd.ensure(Path(tmp)):
        startups = []
        for _ in range(1 if args.quick else 3):
            served = ServedCard(["default"], Path(tmp)).start()
            startups.append(served.startup_seconds or 0.0)
            served.stop()
        results["startup"] = {
            "seconds_median": statistics.median(startups),
            "runs": startups,
            "target_seconds": 1.0,
            "ok": statistics.median(startups) < 1.0,
        }
        print(f"startup: {results['startup']}", flush=True)
        with ServedCard(["default"], Path(tmp)):
            card = _connect(reader_name(0))
            card.transmit(SELECT_JPKI)
            results["certificate_read"] = bench_certificate_read(card, args.quick)
            print(f"certificate read: {results['certificate_read']}", flush=True)
            card.disconnect()
        for sized in (False, True):
            pair = _card_and_echo(sized)
            try:
                card, echo = _connect(reader_name(0)), _connect(reader_name(1))
                card.transmit(SELECT_JPKI)
                key = "round_trip_sized_echo" if sized else "round_trip_plain_echo"
                results[key] = bench_round_trip(card, echo, args.quick)
                print(f"{key}: {results[key]}", flush=True)
                card.disconnect()
                echo.disconnect()
            finally:
                pair.terminate()
                pair.wait(10)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    missed = [k for k, v in results["round_trip_sized_echo"].items() if not v["ok"]]
    missed += [] if results["startup"]["ok"] else ["startup"]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
