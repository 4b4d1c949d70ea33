"""Fuzzer actions and the replayable script format.

An action is a command APDU (``bytes``) or a power event (``"reset"``, ``"power-cycle"``).
A script is what `mynasim apdu` reads on stdin: one APDU in hex per line, the words
``reset`` and ``power-cycle``, ``#`` starting a comment. Scripts carry PIN values in their
VERIFY lines: they are reproductions, kept in the findings and corpus folders only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

RESET = "reset"
POWER_CYCLE = "power-cycle"
POWER_EVENTS = (RESET, POWER_CYCLE)

Action = bytes | str


def apdu(
    cla: int,
    ins: int,
    p1: int,
    p2: int,
    data: bytes = b"",
    le: int | None = None,
    *,
    extended: bool = False,
) -> bytes:
    """Encode a command APDU (ISO/IEC 7816-4), written here independently of the card's
    codec. `le` 256 (short) and 65536 (extended) are written as zeros; extended form is
    used when asked for or when data or Le does not fit the short form."""
    head = bytes((cla & 0xFF, ins & 0xFF, p1 & 0xFF, p2 & 0xFF))
    extended = extended or len(data) > 255 or (le is not None and le > 256)
    if not extended:
        body = (bytes((len(data),)) + data) if data else b""
        tail = b"" if le is None else bytes((le % 256,))
        return head + body + tail
    body = (b"\x00" + len(data).to_bytes(2, "big") + data) if data else b""
    if le is None:
        return head + body
    return head + body + (b"" if data else b"\x00") + (le % 65536).to_bytes(2, "big")


def action_line(action: Action) -> str:
    return action.hex().upper() if isinstance(action, bytes) else action


def format_script(
    actions: Sequence[Action],
    header: Iterable[str] = (),
    notes: Sequence[str | None] | None = None,
) -> str:
    """The script text: header comment lines, then one action per line with an optional
    trailing comment (e.g. the status word the card answered)."""
    lines = [f"# {line}" if line else "#" for line in header]
    for index, action in enumerate(actions):
        note = notes[index] if notes is not None and index < len(notes) else None
        text = action_line(action)
        if not text:  # an empty APDU has no line of its own in the format
            text = "# (an empty APDU here: mynasim apdu cannot send one)"
        lines.append(f"{text}  # {note}" if note and not text.startswith("#") else text)
    return "\n".join(lines) + "\n"


class ScriptError(ValueError):
    """A script line is neither hex nor a power event."""


def parse_script(text: str) -> list[Action]:
    """Actions of a script (the format `mynasim apdu` reads); raises ScriptError."""
    actions: list[Action] = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        if body in POWER_EVENTS:
            actions.append(body)
            continue
        try:
            raw = bytes.fromhex(body.replace(":", " "))
        except ValueError:
            raise ScriptError(f"line {number} is neither hex nor reset/power-cycle") from None
        actions.append(raw)
    return actions


def apdu_count(actions: Iterable[Action]) -> int:
    return sum(1 for action in actions if isinstance(action, bytes))
