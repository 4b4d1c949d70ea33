"""Card fuzzer throughput (issue 8), each against a baseline in the same run.

    python benchmarks/fuzz.py [--quick] [--seconds N] [--no-pcsc] [--json FILE]

- in-process: `mynasim fuzz card --mode random` (the grammar generating, every invariant
  checked on every response, a fresh strict card with its own state file per sequence), in
  APDUs per second, against plain `VirtualCard.transmit` of the same APDUs (the sequences the
  fuzzer generated, replayed on fresh cards with state files, nothing checked): the ratio
  is what generation and invariants cost. Also reported: the same sequences replayed with
  the checks but without generation. Rounds alternate fuzz and baseline; medians;
- through pcscd: the same generator's APDUs sent with pyscard to `mynasim serve`
  (a fresh card per sequence through the control endpoint's persona switch, not timed;
  power events as pyscard reconnects with reset/unpower; APDUs of 0-1 bytes are not sent:
  pcscd refuses empty ones and vpcd reads a 1-byte frame as a control byte, so the served
  card drops the connection), response-level invariants only
  (leaks, 6F00, access and status survival: counters and the state file are not visible
  from the host), against batches of SELECT JPKI on the same connection interleaved with
  the sequences (so machine noise hits both). Needs pcscd with
  vsmartcard-vpcd and pyscard; run it inside .ci/isolated (a private pcscd).

No target: the numbers are for the report (the lead's long runs size themselves on them).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.fuzz.actions import POWER_CYCLE, Action  # noqa: E402
from conformance.fuzz.engine import (  # noqa: E402
    Fuzzer,
    Options,
    PersonaRef,
    Session,
    scratch_root,
    strict_card,
)
from conformance.fuzz.facts import CardFacts  # noqa: E402
from conformance.fuzz.grammar import RandomChooser, next_actions  # noqa: E402
from conformance.fuzz.invariants import Checker, Violation  # noqa: E402
from conformance.fuzz.modes import run_random  # noqa: E402
from conformance.fuzz.personas import resolve_personas  # noqa: E402

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")
SELECT_BATCH = 50


class RecordingFuzzer(Fuzzer):
    """The fuzzer, keeping every sequence it ran (for the baseline replay)."""

    def __init__(self, options: Options) -> None:
        super().__init__(options, out=lambda line: None)
        self.sequences: list[list[Action]] = []

    def end_sequence(
        self,
        session: Session,
        ref: PersonaRef,
        violations: list[Violation],
        *,
        save_corpus: bool = True,
    ) -> None:
        self.sequences.append(list(session.actions))
        super().end_sequence(session, ref, violations, save_corpus=save_corpus)


def _fuzz_round(
    refs: list[PersonaRef], seconds: float, seed: int, findings: Path
) -> RecordingFuzzer:
    options = Options(personas=refs, seconds=seconds, seed=seed, findings=findings, progress=1e9)
    fuzzer = RecordingFuzzer(options)
    try:
        run_random(fuzzer)
    finally:
        fuzzer.close()
    return fuzzer


def _plain_replay(
    ref: PersonaRef, sequences: list[list[Action]], scratch: Path
) -> tuple[int, float]:
    """The baseline: the same APDUs through VirtualCard.transmit, no checks."""
    apdus = 0
    start = time.perf_counter()
    for number, actions in enumerate(sequences):
        state = scratch / f"plain-{number}.json"
        card = strict_card(ref.persona, state)
        card.power_on()
        for action in actions:
            if isinstance(action, bytes):
                card.transmit(action)
                apdus += 1
            else:
                if action == POWER_CYCLE:
                    card.power_off()
                card.power_on()
        card.close()
        state.unlink()
        state.with_name(state.name + ".lock").unlink(missing_ok=True)
    return apdus, time.perf_counter() - start


def _checked_replay(
    ref: PersonaRef, sequences: list[list[Action]], scratch: Path
) -> tuple[int, float]:
    """The same APDUs with every invariant checked, no generation."""
    facts = CardFacts.of(ref.persona)
    apdus = 0
    start = time.perf_counter()
    for number, actions in enumerate(sequences):
        session = Session(facts, scratch, strict_card, number)
        for action in actions:
            session.step(action)
            apdus += isinstance(action, bytes)
        session.close()
    return apdus, time.perf_counter() - start


def bench_inprocess(seconds: float, rounds: int) -> dict[str, Any]:
    refs = resolve_personas("default")
    fuzz_rates: list[float] = []
    plain_rates: list[float] = []
    checked_rates: list[float] = []
    total = 0
    with tempfile.TemporaryDirectory(dir=scratch_root()) as tmp:  # as the fuzzer's scratch
        scratch = Path(tmp)
        for number in range(rounds):
            fuzzer = _fuzz_round(refs, seconds / rounds, 1000 + number, scratch / "findings")
            assert not fuzzer.findings, f"the real card broke an invariant: {fuzzer.findings}"
            elapsed = fuzzer.stats.elapsed()
            fuzz_rates.append(fuzzer.stats.apdus / elapsed)
            total += fuzzer.stats.apdus
            apdus, spent = _plain_replay(refs[0], fuzzer.sequences, scratch)
            plain_rates.append(apdus / spent)
            apdus, spent = _checked_replay(refs[0], fuzzer.sequences, scratch)
            checked_rates.append(apdus / spent)
    fuzz, plain = statistics.median(fuzz_rates), statistics.median(plain_rates)
    return {
        "apdus_total": total,
        "fuzz_apdus_per_second": fuzz,
        "plain_transmit_apdus_per_second": plain,
        "checked_replay_apdus_per_second": statistics.median(checked_rates),
        "ratio_fuzz_to_plain": fuzz / plain,
        "rounds": rounds,
    }


def bench_pcscd(seconds: float) -> dict[str, Any]:
    from smartcard.scard import SCARD_RESET_CARD, SCARD_UNPOWER_CARD
    from smartcard.System import readers

    from conformance.stack import Pcscd, ServedCard, reader_name

    ref = resolve_personas("default")[0]
    facts = CardFacts.of(ref.persona)
    rng = random.Random(7)
    chooser = RandomChooser(rng)
    apdus = refused = sequences = unsendable = 0
    lost = 0.0  # seconds spent getting the card back after a refusal (not timed)
    refusals: list[str] = []
    findings: list[Violation] = []
    timed = 0.0
    with tempfile.TemporaryDirectory() as tmp, Pcscd.ensure(Path(tmp)):
        with ServedCard(["default"], Path(tmp)) as served:
            reader = next(r for r in readers() if str(r) == reader_name(0))
            connection = reader.createConnection()
            connection.connect()
            selects, select_time = 0, 0.0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                start = time.perf_counter()  # baseline batches interleaved with the fuzzing
                for _ in range(SELECT_BATCH):
                    connection.transmit(list(SELECT_JPKI))
                select_time += time.perf_counter() - start
                selects += SELECT_BATCH
                served.ctl("POST", "/cards/0/persona", {"persona": "default"})  # fresh card
                connection.reconnect(disposition=SCARD_RESET_CARD)
                checker = Checker(facts, dict)  # no counters visible from the host
                length = 1 + int(rng.random() * 200)
                done = 0
                sequences += 1
                begin = time.perf_counter()
                while done < length:
                    for action in next_actions(chooser, checker.model):
                        done += 1
                        if isinstance(action, str):
                            disposition = (
                                SCARD_UNPOWER_CARD if action == POWER_CYCLE else SCARD_RESET_CARD
                            )
                            connection.reconnect(disposition=disposition)
                            findings += checker.check(action, None)
                            continue
                        if len(action) < 2:  # vpcd frames of 1 byte are control bytes
                            unsendable += 1
                            continue
                        try:
                            data, sw1, sw2 = connection.transmit(list(action))
                        except Exception as exc:  # refused by pyscard/pcscd, never seen by the card
                            refused += 1
                            refusals.append(f"{len(action)} bytes {action[:8].hex()}: {exc}"[:160])
                            lost += _recover(connection, reader_name(0))
                            continue
                        apdus += 1
                        findings += checker.check(action, bytes(data) + bytes((sw1, sw2)))
                timed += time.perf_counter() - begin
            connection.disconnect()
            connection.release()  # before pcscd goes away
    timed -= lost
    rate = apdus / timed if timed else 0.0
    baseline = selects / select_time
    return {
        "apdus": apdus,
        "sequences": sequences,
        "not_sent_shorter_than_2_bytes": unsendable,
        "refused_by_the_stack": refused,
        "recovery_seconds_not_timed": lost,
        "refusals": refusals[:20],
        "findings": [f"{v.invariant} INS {v.ins} SW {v.sw}" for v in findings],
        "fuzz_apdus_per_second": rate,
        "select_loop_apdus_per_second": baseline,
        "ratio_fuzz_to_select_loop": rate / baseline,
    }


def _recover(connection: Any, reader: str) -> float:
    """After the stack refused an APDU, make sure the card answers again; the seconds it took."""
    from conformance.pcsc import wait_for_card

    start = time.perf_counter()
    try:
        connection.transmit(list(SELECT_JPKI))
        return time.perf_counter() - start
    except Exception:  # noqa: S110 - the connection is gone: connect again below
        pass
    wait_for_card(reader, True, 15)
    connection.reconnect()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 15 s in all)")
    parser.add_argument("--seconds", type=float, help="seconds of fuzzing per part")
    parser.add_argument("--no-pcsc", action="store_true", help="in-process part only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seconds = args.seconds or (6.0 if args.quick else 30.0)
    results: dict[str, Any] = {"inprocess": bench_inprocess(seconds, 3)}
    if not args.no_pcsc:
        results["pcscd"] = bench_pcscd(seconds)
    inproc = results["inprocess"]
    rows = [
        ("in-process fuzz, random mode, invariants on", inproc["fuzz_apdus_per_second"],
         "plain VirtualCard.transmit, same APDUs", inproc["plain_transmit_apdus_per_second"]),
        ("  same APDUs replayed with checks, no generation",
         inproc["checked_replay_apdus_per_second"],
         "plain VirtualCard.transmit, same APDUs", inproc["plain_transmit_apdus_per_second"]),
    ]  # fmt: skip
    if "pcscd" in results:
        pcscd = results["pcscd"]
        rows.append(
            ("through pcscd + vpcd (pyscard), response checks", pcscd["fuzz_apdus_per_second"],
             "SELECT JPKI loop through pcscd", pcscd["select_loop_apdus_per_second"])
        )  # fmt: skip
    print(f"{'measured':50} {'APDUs/s':>10}   {'baseline':40} {'APDUs/s':>10} {'ratio':>6}")
    for label, rate, base_label, base in rows:
        print(f"{label:50} {rate:10,.0f}   {base_label:40} {base:10,.0f} {rate / base:6.2f}")
    if "pcscd" in results and results["pcscd"]["findings"]:
        print(f"findings through pcscd: {results['pcscd']['findings']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
