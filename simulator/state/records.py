"""The records a card keeps per PIN, and the store protocol."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True)
class CardIdentity:
    """Which card a state belongs to: a state file of another card is refused."""

    persona: str
    serial: str


@dataclass(frozen=True)
class PinDigest:
    """A changed PIN, kept as a salted SHA-256 so the value never sits in the file."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, value: bytes) -> PinDigest:
        salt = secrets.token_bytes(16)
        return cls(salt, hashlib.sha256(salt + value).digest())

    def matches(self, candidate: bytes) -> bool:
        return hmac.compare_digest(self.digest, hashlib.sha256(self.salt + candidate).digest())

    def __repr__(self) -> str:
        return "PinDigest(<redacted>)"


@dataclass(frozen=True)
class PinRecord:
    """Remaining tries and, once changed, the digest of the new value."""

    remaining: int
    changed: PinDigest | None = None

    def with_remaining(self, remaining: int) -> PinRecord:
        return replace(self, remaining=remaining)


class PinStore(Protocol):
    """Where a card keeps its PIN records. `put` is durable when it returns."""

    def get(self, key: str) -> PinRecord | None: ...

    def put(self, key: str, record: PinRecord) -> None: ...

    def close(self) -> None: ...
