"""Security status: which key references were verified in the current DF session.

A new SecurityStatus is made by every SELECT of another application and every reset, so
a verification survives neither; re-selecting the current application keeps it unless the
persona says ``reselect_clears_status`` (jpki-card-reference.md section 4.3).
"""

from __future__ import annotations


class SecurityStatus:
    __slots__ = ("_verified",)

    def __init__(self) -> None:
        self._verified: set[int] = set()

    def grant(self, reference: int) -> None:
        self._verified.add(reference)

    def revoke(self, reference: int) -> None:
        self._verified.discard(reference)

    def is_verified(self, reference: int) -> bool:
        return reference in self._verified

    @property
    def verified(self) -> frozenset[int]:
        return frozenset(self._verified)

    def __repr__(self) -> str:
        refs = ", ".join(f"{r:04X}" for r in sorted(self._verified))
        return f"SecurityStatus(verified={{{refs}}})"
