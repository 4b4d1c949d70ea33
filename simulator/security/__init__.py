"""PIN objects, access conditions and the per-session security status."""

from simulator.security.conditions import ALWAYS, NEVER, AccessCondition, AnyVerified
from simulator.security.pin import (
    DIGITS_4,
    DIGITS_6,
    DIGITS_12,
    DIGITS_14,
    SIGN_PASSWORD,
    Pin,
    PinFormat,
)
from simulator.security.status import SecurityStatus

__all__ = [
    "ALWAYS",
    "DIGITS_4",
    "DIGITS_6",
    "DIGITS_12",
    "DIGITS_14",
    "NEVER",
    "SIGN_PASSWORD",
    "AccessCondition",
    "AnyVerified",
    "Pin",
    "PinFormat",
    "SecurityStatus",
]
