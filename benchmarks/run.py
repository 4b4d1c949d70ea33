"""In-process card benchmarks (issue 2 targets), each against a baseline in the same run.

    python benchmarks/run.py [--quick] [--check] [--json FILE]

- throughput: SELECT EF + READ BINARY pairs through VirtualCard.transmit, in APDUs per
  second, against a baseline card function that only slices bytes (target: >= 30,000/s);
- signature: COMPUTE DIGITAL SIGNATURE (P1=00, SHA-256 DigestInfo) against a bare
  `cryptography` RSA-2048 PKCS#1 v1.5 sign of the same digest (target: ratio <= 1.5);
- startup: VirtualCard.from_persona("default") + power_on, also expressed in bare
  RSA signatures as a machine yardstick (target: < 50 ms).

Medians over repeated batches; the measured and the baseline batches alternate so that
machine noise hits both. `--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import VirtualCard, load_persona  # noqa: E402

JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")
SELECT_CERT = bytes.fromhex("00A4020C02000A")
READ_256 = bytes.fromhex("00B0000000")
DIGEST = hashlib.sha256(b"benchmark").digest()
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420") + DIGEST
SIGN = bytes.fromhex("802A008033") + DIGEST_INFO + b"\x00"


def _batch_seconds(func: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        func()
    return time.perf_counter() - start


def _alternate(
    measured: Callable[[], object], baseline: Callable[[], object], count: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per call of each, batches interleaved."""
    m: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        m.append(_batch_seconds(measured, count) / count)
        b.append(_batch_seconds(baseline, count) / count)
    return statistics.median(m), statistics.median(b)


def bench_throughput(quick: bool) -> dict[str, float]:
    card = VirtualCard(load_persona("default"))
    card.power_on()
    card.transmit(JPKI)
    content = bytes(2048)

    def pair() -> None:
        card.transmit(SELECT_CERT)
        card.transmit(READ_256)

    def baseline_card(apdu: bytes) -> bytes:  # parses nothing, only slices
        return content[apdu[2] : apdu[2] + 256] + b"\x90\x00"

    def baseline_pair() -> None:
        baseline_card(SELECT_CERT)
        baseline_card(READ_256)

    assert card.transmit(SELECT_CERT) == b"\x90\x00"
    assert card.transmit(READ_256)[-2:] == b"\x90\x00"
    per_pair, per_base = _alternate(pair, baseline_pair, 2000 if quick else 20000, 5)
    apdus_per_s = 2 / per_pair
    return {
        "apdus_per_second": apdus_per_s,
        "baseline_apdus_per_second": 2 / per_base,
        "ratio_to_baseline": per_pair / per_base,
        "target_apdus_per_second": 30000,
        "ok": apdus_per_s >= 30000,
    }


def bench_signature(quick: bool) -> dict[str, float]:
    persona = load_persona("default")
    key = persona.auth.private_key
    assert key is not None
    card = VirtualCard(persona)
    card.power_on()
    for apdu in (JPKI, "00A4020C020018", "002000800431323334", "00A4020C020017"):
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        assert card.transmit(raw)[-2:] == b"\x90\x00"
    expected = key.sign(DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert card.transmit(SIGN) == expected + b"\x90\x00"

    def card_sign() -> None:
        card.transmit(SIGN)

    def bare_sign() -> None:
        key.sign(DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    per_card, per_bare = _alternate(card_sign, bare_sign, 20 if quick else 200, 5)

    raw_card = VirtualCard(persona)  # the explicit-CRT path: a DigestInfo without NULL
    raw_card.power_on()
    for apdu in (
        "00A4040C0AD392F000260100000001",
        "00A4020C020018",
        "002000800431323334",
        "00A4020C020017",
    ):
        raw_card.transmit(bytes.fromhex(apdu))
    no_null = bytes.fromhex("302f300b06096086480165030402010420") + DIGEST
    raw_apdu = bytes.fromhex("802A008031") + no_null + b"\x00"
    per_raw, _ = _alternate(lambda: raw_card.transmit(raw_apdu), bare_sign, 10 if quick else 50, 3)
    ratio = per_card / per_bare
    return {
        "card_ms": per_card * 1000,
        "bare_cryptography_ms": per_bare * 1000,
        "ratio": ratio,
        "target_ratio": 1.5,
        "nonstandard_digestinfo_ms": per_raw * 1000,
        "nonstandard_ratio": per_raw / per_bare,
        "ok": ratio <= 1.5,
    }


def bench_startup(quick: bool) -> dict[str, float]:
    key = load_persona("default").auth.private_key
    assert key is not None

    def start() -> None:
        VirtualCard.from_persona("default").power_on()

    def yardstick() -> None:
        key.sign(DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    per_start, per_sign = _alternate(start, yardstick, 5 if quick else 20, 5)
    return {
        "startup_ms": per_start * 1000,
        "startup_in_bare_signatures": per_start / per_sign,
        "target_ms": 50,
        "ok": per_start < 0.050,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    for name, bench in (
        ("throughput", bench_throughput),
        ("signature", bench_signature),
        ("startup", bench_startup),
    ):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = bench(args.quick)
        shown = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in results[name].items()
        )
        print(f"{name}: {shown}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    missed = [name for name, r in results.items() if not r["ok"]]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
