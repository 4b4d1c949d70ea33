"""In-memory and file-backed card state stores.

The file is JSON with a SHA-256 over its canonical body, replaced atomically
(write to a temporary file in the same folder, fsync, rename, fsync the folder).
A file that does not parse, fails its checksum, has another format or version,
or belongs to another card is refused with StateFileError; it is never reset.

One card process at a time: the store holds an exclusive lock on `<file>.lock` until
`close()` (or the process ends), so two servers can never race on one counter and lose
a spent try.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from simulator.state.records import CardIdentity, PinDigest, PinRecord

FORMAT = "mynasim-card-state"
VERSION = 1


class StateFileError(ValueError):
    """A state file cannot be used; the message says why and what to do."""


class MemoryStateStore:
    """State that lives as long as the card object (no state file given)."""

    def __init__(self) -> None:
        self._records: dict[str, PinRecord] = {}

    def get(self, key: str) -> PinRecord | None:
        return self._records.get(key)

    def put(self, key: str, record: PinRecord) -> None:
        self._records[key] = record

    def close(self) -> None:
        pass


class StateFileStore:
    """State kept in a file; every `put` is written through before it returns."""

    def __init__(self, path: str | os.PathLike[str], identity: CardIdentity) -> None:
        self.path = Path(path)
        self.identity = identity
        self._records: dict[str, PinRecord] = {}
        self._lock: int | None = None
        if not self.path.parent.is_dir():
            raise StateFileError(
                f"state file {self.path}: folder {self.path.parent} does not exist"
            )
        self._lock = _lock(self.path)
        try:
            _remove_leftovers(self.path)
            if self.path.exists():
                self._records = _load(self.path, identity)
            else:
                self._write()
        except BaseException:
            self.close()
            raise

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock; the store must not be used afterwards."""
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def get(self, key: str) -> PinRecord | None:
        return self._records.get(key)

    def put(self, key: str, record: PinRecord) -> None:
        if self._lock is None:
            raise StateFileError(f"state file {self.path}: the store was closed")
        previous = self._records.get(key)
        self._records[key] = record
        try:
            self._write()
        except BaseException:
            if previous is None:
                del self._records[key]
            else:
                self._records[key] = previous
            raise

    def _write(self) -> None:
        body = _body(self.identity, self._records)
        document = {**body, "sha256": _checksum(body)}
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        _atomic_write(self.path, text.encode())


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateFileError(
            f"state file {path} is in use by another card (lock {lock_path}); "
            "stop the other mynasim process or give a different --state file"
        ) from None
    return fd


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files a killed writer of `path` left behind (ours alone: the lock is
    held, and the name is exactly `_atomic_write`'s, so another state file's are never hit)."""
    leftover = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if leftover.fullmatch(candidate.name):
            candidate.unlink(missing_ok=True)


def _body(identity: CardIdentity, records: dict[str, PinRecord]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "card": {"persona": identity.persona, "serial": identity.serial},
        "pins": {key: _record_to_json(rec) for key, rec in sorted(records.items())},
    }


def _checksum(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _record_to_json(record: PinRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"remaining": record.remaining}
    if record.changed is not None:
        out["changed"] = {"salt": record.changed.salt.hex(), "sha256": record.changed.digest.hex()}
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _load(path: Path, identity: CardIdentity) -> dict[str, PinRecord]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFileError(f"state file {path} cannot be read as JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateFileError(f"state file {path} is not a mynasim card state file")
    if document.get("version") != VERSION:
        raise StateFileError(
            f"state file {path} has version {document.get('version')!r}; "
            f"this mynasim reads version {VERSION}"
        )
    stored = document.pop("sha256", None)
    if stored != _checksum(document):
        raise StateFileError(f"state file {path} is damaged (checksum mismatch); not using it")
    _check_identity(path, document.get("card"), identity)
    return _parse_pins(path, document.get("pins"))


def _check_identity(path: Path, card: object, identity: CardIdentity) -> None:
    expected = {"persona": identity.persona, "serial": identity.serial}
    if card != expected:
        raise StateFileError(
            f"state file {path} belongs to another card ({card!r}), not to persona "
            f"{identity.persona!r} serial {identity.serial}; give a different --state file"
        )


def _parse_pins(path: Path, pins: object) -> dict[str, PinRecord]:
    if not isinstance(pins, dict):
        raise StateFileError(f"state file {path}: 'pins' is not an object")
    records: dict[str, PinRecord] = {}
    for key, raw in pins.items():
        try:
            records[str(key)] = _record_from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFileError(f"state file {path}: bad record {key!r}: {exc}") from None
    return records


def _record_from_json(raw: Any) -> PinRecord:
    remaining = raw["remaining"]
    if type(remaining) is not int or not 0 <= remaining <= 15:
        raise ValueError(f"remaining must be an integer 0-15, got {remaining!r}")
    changed = raw.get("changed")
    digest = None
    if changed is not None:
        digest = PinDigest(bytes.fromhex(changed["salt"]), bytes.fromhex(changed["sha256"]))
        if len(digest.digest) != 32:
            raise ValueError("changed PIN digest must be 32 bytes")
    return PinRecord(remaining, digest)
