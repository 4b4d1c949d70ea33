"""Contactless mode through the real PC/SC stack: pcscd + vsmartcard-vpcd + `mynasim serve
--interface contactless` (or a contactless persona), read with pyscard, pcsc_scan, opensc-tool,
pkcs15-tool and OpenSC's PKCS#11 module (Debian bookworm: OpenSC 0.23).

What OpenSC 0.23 does with a contactless ATR: its jpki driver's match function first compares
the ATR with its one-entry table (the contact ATR 3B E0 00 FF 81 31 FE 45 14); on a mismatch
it SELECTs the JPKI AP by AID and takes the card on 9000. So a Type B ATR binds the card as
JPKI by AID with the default configuration, no opensc.conf `card_atr` block needed; these
tests show both paths in the trace.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from smartcard.System import readers

from conformance.stack import Pcscd, ServedCard, reader_name
from simulator.personalization.card_interface import TYPE_B_ATRS
from simulator.personalization.persona import fixtures_root

pytestmark = pytest.mark.interop

READER = reader_name(0)
SELECT_JPKI_TRACED = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"
CONTACT_ATR = bytes.fromhex("3BE000FF8131FE4514")
MARKER = "80EE000000"  # a command no card knows: its trace record shows the trace caught up
MARKER_TRACED = "80 EE 00 00 00"


class ContactlessCard(ServedCard):
    """ServedCard with extra `mynasim serve` arguments (e.g. --interface contactless)."""

    def __init__(self, personas: list[str], workdir: Path, *extra: str, **options: Any) -> None:
        super().__init__(personas, workdir, **options)
        self.extra = list(extra)

    def command(self) -> list[str]:
        return [*super().command(), *self.extra]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSC_")}  # default config
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(args)}: {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result


def transmit(apdus: list[str]) -> list[bytes]:
    """One pyscard connection to slot 0: the ATR, then each APDU's response (data + SW)."""
    reader = next(r for r in readers() if str(r) == READER)
    connection = reader.createConnection()
    connection.connect()
    try:
        answers = [bytes(connection.getATR())]
        for apdu in apdus:
            data, sw1, sw2 = connection.transmit(list(bytes.fromhex(apdu)))
            answers.append(bytes(data) + bytes([sw1, sw2]))
        return answers
    finally:
        connection.disconnect()
        connection.release()


def commands_in(trace: Path, start: int = 0) -> list[str]:
    records = [json.loads(line) for line in trace.read_text().splitlines()[start:]]
    return [r["apdu"] for r in records if r.get("direction") == "command"]


def settled_commands(trace: Path, start: int) -> list[str]:
    """The commands traced since line `start`, once the trace has caught up: a record is
    written after its answer went out, so send a marker APDU and wait until it is there."""
    transmit([MARKER])
    deadline = time.monotonic() + 10
    while MARKER_TRACED not in (commands := commands_in(trace, start)):
        assert time.monotonic() < deadline, commands
        time.sleep(0.02)
    return commands[: commands.index(MARKER_TRACED)]


def trace_length(trace: Path) -> int:
    return len(trace.read_text().splitlines()) if trace.exists() else 0


def test_pyscard_sees_the_reader_atr_and_a_new_pupi_per_tap(pcscd: Pcscd, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    with ContactlessCard(["default"], tmp_path, "--interface", "contactless", trace=trace) as card:
        atr, uid, ats, select = transmit(
            ["FFCA000000", "FFCA010000", "00A4040C0AD392F000260100000001"]
        )
        assert atr == TYPE_B_ATRS[0] and atr[:4] == bytes.fromhex("3B888001")
        assert len(uid) == 6 and uid[-2:] == b"\x90\x00"
        status = card.ctl("GET", "/status")["cards"][0]
        assert (status["interface"], status["uid"]) == ("contactless", uid[:4].hex().upper())
        assert status["atr"] == TYPE_B_ATRS[0].hex(" ").upper()
        assert ats == b"\x6a\x81"  # FF CA 01 00 00: no ATS on Type B
        assert select == b"\x90\x00"  # the card behind the reader
        assert transmit(["FFCA000000"])[1] == uid  # a new connection is not a new tap

        card.ctl("POST", "/cards/0/remove")
        card.wait_absent()
        card.ctl("POST", "/cards/0/insert")
        card.wait_present()
        again = transmit(["FFCA000000", "FFCA000002"])
        assert again[0] == TYPE_B_ATRS[0]
        assert again[1][-2:] == b"\x90\x00" and len(again[1]) == 6 and again[1] != uid
        assert again[2] == b"\x6c\x04"  # Le 2 is too short: 6C04
        assert card.ctl("GET", "/status")["cards"][0]["uid"] == again[1][:4].hex().upper()
    assert commands_in(trace).count("FF CA 00 00 00") == 3  # traced like any command


def test_pcsc_scan_and_opensc_tool_show_the_contactless_atr(pcscd: Pcscd, tmp_path: Path) -> None:
    with ContactlessCard(["default"], tmp_path, "--interface", "contactless"):
        scan = subprocess.run(
            ["pcsc_scan", "-c"], capture_output=True, text=True, timeout=30, check=False
        )
        assert re.search(
            rf"Reader \d+: {READER}.*?ATR: {TYPE_B_ATRS[0].hex(' ').upper()}",
            scan.stdout,
            re.DOTALL,
        ), scan.stdout + scan.stderr
        atr = run("opensc-tool", "--reader", "0", "--atr").stdout
        assert atr.strip() == TYPE_B_ATRS[0].hex(":")
        uid = run("opensc-tool", "--reader", "0", "--send-apdu", "FFCA000000").stdout
        assert "SW1=0x90, SW2=0x00" in uid and re.search(r"^([0-9A-F]{2} ){4}", uid, re.M), uid


def test_opensc_binds_the_contactless_card_as_jpki_by_aid(pcscd: Pcscd, tmp_path: Path) -> None:
    """OpenSC 0.23, default configuration: `opensc-tool -n` says jpki, and the trace shows
    that it took the card because SELECT of the JPKI AP answered 9000 (the ATR matched
    nothing); pkcs15-tool lists the four certificates and PKCS#11 shows both tokens."""
    trace = tmp_path / "trace.jsonl"
    with ContactlessCard(["default"], tmp_path, "--interface", "contactless", trace=trace):
        start = trace_length(trace)
        assert run("opensc-tool", "--reader", "0", "--name").stdout.strip() == "jpki"
        detection = settled_commands(trace, start)
        assert SELECT_JPKI_TRACED in detection, detection
        assert detection[-1] == SELECT_JPKI_TRACED  # the last probe: jpki's match by AID
        listed = run("pkcs15-tool", "--reader", "0", "--list-certificates").stdout
        for label in (
            "User Authentication Certificate",
            "Digital Signature Certificate",
            "User Authentication Certificate CA",
            "Digital Signature Certificate CA",
        ):
            assert f"[{label}]" in listed, listed
        tokens = run("pkcs11-tool", "--module", opensc_module(), "--list-slots").stdout
        assert "JPKI (User Authentication PIN)" in tokens, tokens


def test_with_the_contact_atr_opensc_matches_by_atr_without_an_apdu(
    pcscd: Pcscd, tmp_path: Path
) -> None:
    """The contrast: the same card on the contact interface is matched by its ATR alone."""
    trace = tmp_path / "trace.jsonl"
    with ContactlessCard(["default"], tmp_path, "--interface", "contact", trace=trace):
        start = trace_length(trace)
        assert transmit([])[0] == CONTACT_ATR
        assert run("opensc-tool", "--reader", "0", "--name").stdout.strip() == "jpki"
        detection = settled_commands(trace, start)
        assert detection and SELECT_JPKI_TRACED not in detection  # the probes, but no JPKI AID


def test_a_contactless_persona_with_another_known_atr(pcscd: Pcscd, tmp_path: Path) -> None:
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    persona = root / "personas" / "default.toml"
    anchor = 'token_serial = "0000000099000001"'
    text = persona.read_text(encoding="utf-8")
    assert anchor in text
    persona.write_text(
        text.replace(
            anchor,
            f'{anchor}\ninterface = "contactless"\n'
            f'contactless_atr = "{TYPE_B_ATRS[3].hex(" ").upper()}"\n'
            "max_command_bytes = 261",
            1,
        ),
        encoding="utf-8",
    )
    with ServedCard([str(persona)], tmp_path):
        too_long = "00D6000000" + "0100" + "00" * 256  # an extended UPDATE BINARY
        atr, uid, refused = transmit(["FFCA000004", too_long])
        assert atr == TYPE_B_ATRS[3]
        assert len(uid) == 6 and uid[-2:] == b"\x90\x00"
        assert refused == b"\x67\x00"  # stopped by the 261-byte cap, before the card
        assert run("opensc-tool", "--reader", "0", "--name").stdout.strip() == "jpki"


def opensc_module() -> str:
    found = sorted(
        glob.glob("/usr/lib/*/opensc-pkcs11.so") + glob.glob("/usr/lib/opensc-pkcs11.so")
    )
    assert found, "OpenSC's PKCS#11 module is not installed (apt-get install opensc)"
    return found[0]
