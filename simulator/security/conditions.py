"""Access conditions attached to EFs and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from simulator.security.status import SecurityStatus


class AccessCondition(Protocol):
    def satisfied(self, status: SecurityStatus) -> bool: ...


@dataclass(frozen=True)
class _Always:
    def satisfied(self, status: SecurityStatus) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALWAYS"


@dataclass(frozen=True)
class _Never:
    def satisfied(self, status: SecurityStatus) -> bool:
        return False

    def __repr__(self) -> str:
        return "NEVER"


@dataclass(frozen=True)
class AnyVerified:
    """Satisfied once any of the key references was verified in this session."""

    references: frozenset[int]

    @classmethod
    def of(cls, *references: int) -> AnyVerified:
        return cls(frozenset(references))

    def satisfied(self, status: SecurityStatus) -> bool:
        return any(status.is_verified(ref) for ref in self.references)


ALWAYS: AccessCondition = _Always()
NEVER: AccessCondition = _Never()
