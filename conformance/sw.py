"""Status words by name on the host side: `63C2 (verification failed, 2 tries left)`.

The names and meanings are the card side's (`simulator.apdu.sw`, the bottom layer anyone
may use); this module only puts them into the conformance suite's failure messages.
"""

from __future__ import annotations

from conformance.channel import Response
from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import StatusWord, describe


def sw_name(sw: int) -> str:
    """4 hex digits and the meaning: ``9000 (success)``, ``6A82 (file or application not
    found)``; any 16-bit value has one (unknown words read ``(unknown status)``)."""
    return describe(int(StatusWord(sw)))


def expect_sw(actual: Response | int, *expected: int, note: object = "") -> None:
    """Fail unless the status word of `actual` (a response or a bare status word) is one
    of `expected`; the message names both sides and, for a response, the command sent
    (PIN data shown as `**`):

        expected 9000 (success), got 63C2 (verification failed, 2 tries left)
        after 00 20 00 80 04 ** ** ** **
    """
    __tracebackhide__ = True  # the failure is the caller's line, not this helper's
    if not expected:
        raise TypeError("expect_sw needs at least one expected status word")
    if _sw(actual) not in expected:
        wanted = " or ".join(sw_name(word) for word in expected)
        raise AssertionError(_message(f"expected {wanted}", actual, note))


def expect_not_sw(actual: Response | int, *refused: int, note: object = "") -> None:
    """Fail when the status word of `actual` is one of `refused` (e.g. the command must
    not succeed: ``expect_not_sw(response, 0x9000)``)."""
    __tracebackhide__ = True
    if not refused:
        raise TypeError("expect_not_sw needs at least one refused status word")
    if _sw(actual) in refused:
        unwanted = " or ".join(sw_name(word) for word in refused)
        raise AssertionError(_message(f"expected anything but {unwanted}", actual, note))


def _sw(actual: Response | int) -> int:
    return actual.sw if isinstance(actual, Response) else int(actual)


def _message(expectation: str, actual: Response | int, note: object) -> str:
    """`expectation`, got <the status word by name> [note], and the command sent."""
    message = f"{expectation}, got {sw_name(_sw(actual))}"
    if note != "":
        message += f" [{note}]"
    if isinstance(actual, Response) and actual.command:
        message += f"\nafter {redacted_hex(actual.command)}"
    return message
