"""Persistent card state: what a chip keeps in EEPROM (retry counters, changed PINs).

The card never writes a state change lazily: `PinStore.put` returns only when the
new record is durable, so a retry counter can be decremented BEFORE the PIN is
compared (anti-tearing).
"""

from simulator.state.records import CardIdentity, PinRecord, PinStore
from simulator.state.store import MemoryStateStore, StateFileError, StateFileStore

__all__ = [
    "CardIdentity",
    "MemoryStateStore",
    "PinRecord",
    "PinStore",
    "StateFileError",
    "StateFileStore",
]
