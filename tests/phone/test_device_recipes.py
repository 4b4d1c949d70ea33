"""docs/phone/device-recipes.md: its real-card capture script stays within the PIN budget.

The script is meant for a real My Number card, where a wrong VERIFY spends a try and a blocked
PIN needs the city office. This test reads the script out of the page and checks that every
command is one the page calls safe (SELECT, READ BINARY, VERIFY without data), then runs it on
the virtual card: it must run through without a 6Fxx, and the counters must be untouched.
The page's other promises (the five AIDs, the phone index) are checked against the code.
"""

from __future__ import annotations

import re
from pathlib import Path

from simulator import VirtualCard, load_persona

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "phone" / "device-recipes.md"
INDEX = ROOT / "docs" / "phone" / "README.md"
FIVE_AIDS = {
    "D392F000260100000001",
    "D3921000310001010408",
    "D3921000310001010402",
    "D3921000310001010401",
    "D3921000310001010100",
}


def capture_script() -> list[bytes]:
    """The APDUs of the page's capture script (the fenced block starting `# JPKI AP`)."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(r"```\n(# JPKI AP.*?)```", text, flags=re.DOTALL)
    assert found is not None, "the capture script is gone from device-recipes.md"
    lines = [line.strip() for line in found.group(1).splitlines()]
    return [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]


def is_safe(apdu: bytes) -> bool:
    """Spends no PIN try and changes nothing on a real card."""
    cla, ins, p1 = apdu[0], apdu[1], apdu[2]
    if cla != 0x00:
        return False
    if ins == 0xA4:  # SELECT by AID or EF
        return p1 in (0x02, 0x04)
    if ins == 0xB0:  # READ BINARY
        return len(apdu) == 5
    if ins == 0x20:  # VERIFY: only the status query, with no data at all
        return len(apdu) == 4
    return False


def test_capture_script_sends_only_safe_commands() -> None:
    script = capture_script()
    assert len(script) >= 10
    unsafe = [apdu.hex(" ").upper() for apdu in script if not is_safe(apdu)]
    assert unsafe == []
    assert any(apdu == bytes.fromhex("00200080") for apdu in script)  # the tries are counted


def test_safety_rule_refuses_what_spends_a_try() -> None:
    assert not is_safe(bytes.fromhex("002000800431323334"))  # VERIFY with a PIN
    assert not is_safe(bytes.fromhex("0020008000"))  # VERIFY with Lc 00: not the case-1 query
    assert not is_safe(bytes.fromhex("80 2A 00 80 02 30 31 00".replace(" ", "")))
    assert not is_safe(bytes.fromhex("00FE0000"))  # TERMINATE CARD USAGE
    assert not is_safe(bytes.fromhex("00240180043132333400"))  # CHANGE REFERENCE DATA


def test_capture_script_runs_on_mynasim_without_spending_tries() -> None:
    with VirtualCard(load_persona("default")) as card:
        card.power_on()
        before = {key: pin.remaining for key, pin in card.pins().items()}
        answers = [card.transmit(apdu) for apdu in capture_script()]
        after = {key: pin.remaining for key, pin in card.pins().items()}
    assert before == after
    words = [answer[-2:].hex().upper() for answer in answers]
    assert not [word for word in words if word.startswith("6F")], words
    assert words[0] == "9000"  # the JPKI AP
    assert "63C3" in words and "63C5" in words  # both JPKI counters, read for free


def test_recipe_registers_the_five_aids() -> None:
    text = PAGE.read_text(encoding="utf-8")
    xml = re.search(r"<aid-group.*?</aid-group>", text, flags=re.DOTALL)
    assert xml is not None
    assert set(re.findall(r'aid-filter android:name="([0-9A-F]+)"', xml.group(0))) == FIVE_AIDS
    kotlin = re.search(r"registerAidsForService\((.*?)\n\)", text, flags=re.DOTALL)
    assert kotlin is not None
    assert set(re.findall(r'"([0-9A-F]{14,32})"', kotlin.group(1))) == FIVE_AIDS
    assert "adb reverse tcp:35963 tcp:35963" in text


def test_index_links_every_phone_page() -> None:
    index = INDEX.read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(([^)#]+)", index))
    expected = {
        "listen-mode.md",
        "bridge-protocol.md",
        "contactless.md",
        "device-recipes.md",
        "kits/typescript/README.md",
        "kits/kotlin/README.md",
        "kits/swift/README.md",
        "kits/dart/README.md",
    }
    assert expected <= links
    mine = {link for link in expected if "kits/" in link or link == "device-recipes.md"}
    for link in mine:
        assert (INDEX.parent / link).is_file(), link
