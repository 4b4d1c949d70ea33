"""The invariants `mynasim fuzz card` checks on every response, and the model they need.

The model (`SessionModel`) is the fuzzer's own account of the card's security state, kept
from what was sent and what the card answered: the selected application, the candidates for
the current EF, the key references verified (a VERIFY answered 9000) since the last SELECT
of another application (or of the same one, on a persona with ``reselect_clears_status``),
reset or power cycle, and every PIN's right value (changes made by the
fuzzer included). Access rules come from `facts.CardFacts` (the reference), never from the
card. Where the model cannot be sure (e.g. which EF a failed SFI read left current), it keeps
every candidate and only reports what is wrong for all of them: no false findings.

Invariants (names as they appear in findings):

- ``exception``: the card raised (strict mode); ``sw-6f00``: it answered 6F00;
- ``key-leak``: 16 consecutive bytes of a private key (d, p, q, dp, dq, qinv, PKCS#8 DER)
  in a response;
- ``pin-leak``: a PIN value in response data that is not a slice of a file readable now,
  not a signature under a card key, and not a short value inside GET CHALLENGE randomness;
- ``counter``: a retry counter rose other than by a right VERIFY / CHANGE answered 9000,
  fell by more than one, fell on a command that is not a VERIFY of that PIN, or a blocked
  PIN came back; a VERIFY answered 9000 with a wrong value or on a blocked PIN;
- ``access``: a protected EF read (9000/6282 with data), a key used (COMPUTE DIGITAL
  SIGNATURE, INTERNAL AUTHENTICATE) or a PIN changed without the credential;
- ``status-survives``: the same, where the missing credential was verified before the last
  SELECT of another application / reset / power cycle (the security status survived it;
  a re-SELECT of the same application keeps it, section 4.3, unless the persona says
  ``reselect_clears_status``);
- ``state-file``: the state file does not load, or its counters (or changed-PIN marks)
  differ from the live card's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.fuzz.actions import POWER_CYCLE, RESET, Action
from conformance.fuzz.facts import ISD_AID, App, CardFacts, Ef, Kind
from simulator.state import CardIdentity, StateFileError, StateFileStore

INVARIANTS: dict[str, str] = {
    "exception": "the card raised an exception instead of answering",
    "sw-6f00": "the card answered 6F00 (no precise diagnosis)",
    "key-leak": "private-key bytes in a response",
    "pin-leak": "a PIN value in a response that is not file content readable now",
    "counter": "retry counters move only as VERIFY / CHANGE REFERENCE DATA allow",
    "access": "protected EFs, keys and PIN changes need their credential",
    "status-survives": (
        "security status never survives a SELECT of another application, a reset or a power "
        "cycle (nor a re-SELECT of the same one with reselect_clears_status)"
    ),
    "state-file": "the state file always loads and matches the live card",
}

UNKNOWN = -1  # a current EF the model cannot name
SUCCESS = (0x9000, 0x6282)
SHORT_CHALLENGE_PIN = 5  # a PIN shorter than this (4 digits) inside GET CHALLENGE output is chance
INS_VERIFY, INS_CHANGE, INS_CHANGE_KEY = 0x20, 0x24, 0x32
INS_SELECT, INS_READ_BINARY, INS_READ_RECORD = 0xA4, 0xB0, 0xB2
INS_SIGN, INS_INTERNAL_AUTH, INS_GET_CHALLENGE = 0x2A, 0x88, 0x84
# status words of an SFI read that reached the file (it became current) ...
BINARY_MOVED = (0x9000, 0x6282, 0x6981, 0x6982, 0x6B00)
RECORD_MOVED = (0x9000, 0x6981, 0x6982, 0x6A83)
# ... and of a command rejected before any file was touched (ISO 7816-4 checking order:
# class, instruction, parameters, then the file); READ RECORD's 6700 can be either
REJECTED = (0x6A81, 0x6A82, 0x6A86, 0x6D00, 0x6E00, 0x6881, 0x6882, 0x69FC)


@dataclass(frozen=True)
class Violation:
    invariant: str
    ins: int | None
    sw: int | None
    expected: str
    actual: str

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        """What findings are de-duplicated by: (invariant, INS, SW)."""
        return (self.invariant, self.ins, self.sw)


@dataclass(frozen=True, slots=True)
class Command:
    """A command APDU as the fuzzer reads it (its own ISO 7816-4 decoding)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None


def parse_command(raw: bytes) -> Command | None:
    """Decode cases 1-4, short and extended; None when the lengths do not add up."""
    n = len(raw)
    if n < 4:
        return None
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    if n == 4:
        return Command(cla, ins, p1, p2, b"", None)
    if n == 5:
        return Command(cla, ins, p1, p2, b"", raw[4] or 256)
    if raw[4]:
        lc = raw[4]
        if n == 5 + lc:
            return Command(cla, ins, p1, p2, raw[5:], None)
        if n == 6 + lc:
            return Command(cla, ins, p1, p2, raw[5:-1], raw[-1] or 256)
        return None
    if n < 7:
        return None
    word = int.from_bytes(raw[5:7], "big")
    if n == 7:
        return Command(cla, ins, p1, p2, b"", word or 65536)
    if word and n == 7 + word:
        return Command(cla, ins, p1, p2, raw[7:], None)
    if word and n == 9 + word:
        return Command(cla, ins, p1, p2, raw[7:-2], int.from_bytes(raw[-2:], "big") or 65536)
    return None


def is_signature(data: bytes, public_numbers: Iterable[tuple[int, int]]) -> bool:
    """True when `data` is an RSA signature under one of the keys: its public operation
    gives a PKCS#1 v1.5 type-1 block or a PSS encoding (trailer BC)."""
    value = int.from_bytes(data, "big")
    for n, e in public_numbers:
        size = (n.bit_length() + 7) // 8
        if len(data) != size or value >= n:
            continue
        block = pow(value, e, n).to_bytes(size, "big")
        if block[:2] == b"\x00\x01":
            rest = block[2:].lstrip(b"\xff")
            if rest[:1] == b"\x00" and len(block) - len(rest) >= 10:
                return True
        if block[-1] == 0xBC:
            return True
    return False


@dataclass
class SessionModel:
    """The fuzzer's account of the card's volatile and PIN state."""

    facts: CardFacts
    app: App | None = None  # None: MF level (or an application the facts do not know)
    unknown_app: bool = False
    current: frozenset[int | None] = frozenset({None})
    verified: set[int] = field(default_factory=set)
    lost: frozenset[int] = frozenset()  # verified just before the last clearing event
    lost_event: str = ""
    values: dict[str, bytes] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    secret_values: set[bytes] = field(default_factory=set)
    # a CHANGE whose target the model could not single out: each candidate may hold the
    # new value too, and whether it was changed is unknown (not checked in the state file)
    maybe_values: dict[str, set[bytes]] = field(default_factory=dict)
    unsure_changed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for pin in self.facts.pins():
            self.values[pin.key] = pin.value
            self.secret_values.add(pin.value)

    @property
    def app_name(self) -> str:
        if self.app is not None:
            return self.app.name
        return "?" if self.unknown_app else "MF"

    def clear(self, event: str) -> None:
        """A SELECT of another application, the ISD SELECT, a reset or a power cycle."""
        if self.verified:  # otherwise what was lost earlier stays the explanation
            self.lost, self.lost_event = frozenset(self.verified), event
        self.verified = set()
        self.current = frozenset({None})

    def power(self, event: str) -> None:
        self.clear(event)
        self.app, self.unknown_app = None, False

    def is_right(self, key: str, value: bytes) -> bool:
        """`value` is (or may be) the right value of PIN `key`."""
        return self.values.get(key) == value or value in self.maybe_values.get(key, ())

    def allowed(self, ef: Ef) -> bool:
        return ef.needs is not None and (not ef.needs or bool(ef.needs & self.verified))

    def efs_of(self, candidates: Iterable[int | None]) -> list[Ef] | None:
        """The EFs the candidates name in the current application; None if any is unknown."""
        if self.app is None:
            return None
        out: list[Ef] = []
        for fid in candidates:
            ef = None if fid is None or fid == UNKNOWN else self.app.efs.get(fid)
            if ef is None:
                return None
            out.append(ef)
        return out

    def by_sfi(self, sfi: int) -> int | None:
        if self.app is None:
            return None
        ef = self.app.ef_by_sfi(sfi)
        return None if ef is None else ef.fid

    def referenced(self, p2: int) -> frozenset[int | None]:
        """P2 = 80 (current EF) or 80|SFI, as VERIFY, CHANGE, `80 2A`, `00 88` use it."""
        if p2 == 0x80:
            return self.current
        fid = self.by_sfi(p2 & 0x1F) if p2 & 0xE0 == 0x80 else None
        return frozenset({UNKNOWN if fid is None else fid})

    def pin_keys(self, candidates: Iterable[int | None]) -> set[str] | None:
        """State keys of the PIN EFs among the candidates; None if one is unknown."""
        if self.app is None:
            return None
        keys: set[str] = set()
        for fid in candidates:
            if fid is None:
                continue
            if fid == UNKNOWN:
                return None
            pin = self.app.pins.get(fid)
            if pin is not None:
                keys.add(pin.key)
        return keys


class Checker:
    """Checks every response of one card session against the invariants.

    `read_counters` returns the live card's retry counters by state key (the card's
    out-of-band view, `VirtualCard.pins()`); `state_file` (with `identity`) enables the
    state-file invariant.
    """

    def __init__(
        self,
        facts: CardFacts,
        read_counters: Callable[[], dict[str, int]],
        *,
        state_file: Path | None = None,
        identity: CardIdentity | None = None,
        scratch: Path | None = None,
    ) -> None:
        self.facts = facts
        self.model = SessionModel(facts)
        self._read_counters = read_counters
        self._counters = read_counters()
        self._max = {pin.key: pin.max_tries for pin in facts.pins()}
        self.state_file = state_file
        self.identity = identity
        self._scratch = scratch
        self._clean = facts.clean_contents
        self._state_checked: tuple[bytes, tuple[tuple[str, int], ...], frozenset[str]] | None = None
        self._clean_set = frozenset(self._clean)

    # -- the per-action entry point -------------------------------------------------------

    def check(
        self, action: Action, response: bytes | None, error: BaseException | None = None
    ) -> list[Violation]:
        """Check the card's answer to `action` (None with `error` when it raised) and
        update the model. Power events are checked for counter changes too."""
        ins = action[1] if isinstance(action, bytes) and len(action) > 1 else None
        if error is not None:
            what = f"{type(error).__name__}: {error}"[:300]
            expected = "a status word" if isinstance(action, bytes) else f"a {action} (ATR)"
            return [Violation("exception", ins, None, expected, what)]
        if isinstance(action, str):
            self.model.power(action)
            return self._counter_changes(None, None, None)
        if response is None or len(response) < 2:
            return [Violation("exception", ins, None, "a status word", "no status word")]
        cmd = parse_command(action)
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        found: list[Violation] = []
        if sw == 0x6F00:
            found.append(Violation("sw-6f00", ins, sw, "a precise status word", "6F00"))
        if cmd is not None:  # the cause before its symptoms (a protected read leaks too)
            found += self._access(cmd, data, sw)
        if data:
            found += self._leaks(cmd, ins, data, sw)
        found += self._counter_changes(cmd, sw, ins)
        if cmd is not None:
            self._update(cmd, sw)
            if self.state_file is not None and _changes_state(cmd):
                found += self.check_state_file(ins, sw)
        return found

    # -- leaks -------------------------------------------------------------------------

    def _leaks(self, cmd: Command | None, ins: int | None, data: bytes, sw: int) -> list[Violation]:
        found: list[Violation] = []
        windows = self.facts.secret_windows
        if len(data) >= 16 and not self._known_slice(data):
            size = len(data)
            if any(data[i : i + 16] in windows for i in range(size - 15)):
                found.append(
                    Violation(
                        "key-leak", ins, sw, "no private-key bytes",
                        f"16+ bytes of a private key in {size} bytes of response data",
                    )
                )  # fmt: skip
        for value in self.model.secret_values:
            if value and value in data and not self._explained(cmd, data, value):
                keys = sorted(k for k, v in self.model.values.items() if v == value)
                found.append(
                    Violation(
                        "pin-leak", ins, sw, "no PIN value outside readable file content",
                        f"the value of {', '.join(keys) or 'a former PIN'} in "
                        f"{len(data)} bytes of response data",
                    )
                )  # fmt: skip
                break
        return found

    def _known_slice(self, data: bytes) -> bool:
        """`data` lies within a file content that holds no key bytes (current EF first)."""
        efs = self.model.efs_of(self.model.current)
        for ef in efs or ():
            if ef.content and data in ef.content and ef.content in self._clean_set:
                return True
        return any(data in content for content in self._clean)

    def _explained(self, cmd: Command | None, data: bytes, value: bytes) -> bool:
        if any(data in content for content in self.facts.public_contents):
            return True
        app = self.model.app
        if app is not None:
            for ef in app.efs.values():
                if ef.content and self.model.allowed(ef) and data in ef.content:
                    return True
        if cmd is not None and cmd.ins in (INS_SIGN, INS_INTERNAL_AUTH):
            return is_signature(data, self.facts.public_numbers)
        return cmd is not None and cmd.ins == INS_GET_CHALLENGE and len(value) < SHORT_CHALLENGE_PIN

    # -- access ------------------------------------------------------------------------

    def _access(self, cmd: Command, data: bytes, sw: int) -> list[Violation]:
        model = self.model
        if sw not in SUCCESS:
            return []
        candidates: frozenset[int | None] | None = None
        what = ""
        if cmd.ins == INS_READ_BINARY and cmd.cla == 0x00 and data:
            what = "READ BINARY"
            if cmd.p1 & 0x80:
                fid = model.by_sfi(cmd.p1 & 0x1F)
                candidates = frozenset({UNKNOWN if fid is None else fid})
            else:
                candidates = model.current
        elif cmd.ins == INS_READ_RECORD and cmd.cla == 0x00 and data:
            what = "READ RECORD"
            sfi = cmd.p2 >> 3
            if sfi:
                fid = model.by_sfi(sfi)
                candidates = frozenset({UNKNOWN if fid is None else fid})
            else:
                candidates = model.current
        elif cmd.ins == INS_SIGN and cmd.cla == 0x80 and sw == 0x9000:
            what = "COMPUTE DIGITAL SIGNATURE"
            candidates = self._own_key() if cmd.p2 == 0x00 else model.referenced(cmd.p2)
        elif cmd.ins == INS_INTERNAL_AUTH and cmd.cla == 0x00 and sw == 0x9000:
            what = "INTERNAL AUTHENTICATE"
            candidates = model.referenced(cmd.p2)
        elif _is_change(cmd) and sw == 0x9000:
            return self._change_access(cmd)
        if what and model.app is None and not model.unknown_app:
            return [self._mf_violation(cmd.ins, sw, what)]
        if candidates is None:
            return []
        efs = model.efs_of(candidates)
        if efs is None:
            return []  # the model cannot name the object: no claim
        reading = what.startswith("READ")
        refused = [ef for ef in efs if not self._may(ef, reading)]
        if len(refused) < len(efs):
            return []  # one candidate may be used: no finding
        return [self._access_violation(cmd.ins, sw, what, refused)]

    def _may(self, ef: Ef, reading: bool) -> bool:
        wanted = (Kind.BINARY, Kind.RECORD) if reading else (Kind.KEY,)
        return ef.kind in wanted and self.model.allowed(ef)

    def _own_key(self) -> frozenset[int | None] | None:
        app = self.model.app
        own = {"text": 0x0013, "surface": 0x001A}
        if app is None or app.name not in own:
            return None
        return frozenset({own[app.name]})

    def _access_violation(self, ins: int, sw: int, what: str, efs: list[Ef]) -> Violation:
        model = self.model
        names = ", ".join(_ef_name(model, ef) for ef in efs)
        needs = set().union(*(ef.needs or set() for ef in efs))
        verified = ", ".join(f"{ref:04X}" for ref in sorted(model.verified)) or "none"
        if needs & model.lost:
            lost = ", ".join(f"{ref:04X}" for ref in sorted(needs & model.lost))
            return Violation(
                "status-survives", ins, sw,
                f"{what} of {names} refused: {lost} was verified before the {model.lost_event}, "
                "which clears the security status",
                f"{sw:04X}",
            )  # fmt: skip
        if any(ef.needs is None for ef in efs) or not needs:
            rule = "never opened by a cardholder credential"
        else:
            rule = "needs " + " or ".join(f"{ref:04X}" for ref in sorted(needs))
        return Violation(
            "access", ins, sw,
            f"{what} of {names} refused ({rule}; verified in this session: {verified})",
            f"{sw:04X}",
        )  # fmt: skip

    def _mf_violation(self, ins: int, sw: int, what: str) -> Violation:
        """At MF level (power-on, reset, ISD SELECT) no EF can be read and no key used
        (section 3.5): the card acted as if an application were still selected."""
        model = self.model
        if model.lost and model.lost_event in ("reset", "power-cycle", "ISD SELECT"):
            lost = ", ".join(f"{ref:04X}" for ref in sorted(model.lost))
            return Violation(
                "status-survives", ins, sw,
                f"{what} refused at MF level: the {model.lost_event} left no application "
                f"selected and cleared {lost}",
                f"{sw:04X}",
            )  # fmt: skip
        return Violation(
            "access", ins, sw, f"{what} refused at MF level (no application selected)",
            f"{sw:04X}",
        )  # fmt: skip

    def _change_access(self, cmd: Command) -> list[Violation]:
        model = self.model
        refs = model.referenced(cmd.p2)
        keys = model.pin_keys(refs)
        if model.app is None or keys is None or not keys:
            return []
        pins = [pin for pin in model.app.pins.values() if pin.key in keys]
        if any(pin.ref in model.verified for pin in pins):
            return []
        names = ", ".join(pin.key for pin in pins)
        if any(pin.ref in model.lost for pin in pins):
            return [
                Violation(
                    "status-survives", cmd.ins, 0x9000,
                    f"change of {names} refused: verified only before the {model.lost_event}",
                    "9000",
                )
            ]  # fmt: skip
        return [
            Violation(
                "access", cmd.ins, 0x9000,
                f"change of {names} refused without VERIFY in this session", "9000",
            )
        ]  # fmt: skip

    # -- retry counters ----------------------------------------------------------------

    def _counter_changes(
        self, cmd: Command | None, sw: int | None, ins: int | None
    ) -> list[Violation]:
        before = self._counters
        after = self._read_counters()
        self._counters = after
        found: list[Violation] = []
        verify = cmd is not None and cmd.ins == INS_VERIFY and cmd.cla == 0x00
        targets: set[str] | None = set()
        if cmd is not None and (verify or _is_change(cmd)):
            targets = self.model.pin_keys(self.model.referenced(cmd.p2))
        if verify and cmd is not None and cmd.data and sw == 0x9000:
            found += self._verify_accepted(cmd, targets, before)
        for key, now in after.items():
            was = before.get(key, now)
            if now == was:
                continue
            change = f"{key}: {was} -> {now}"
            if was == 0:
                found.append(Violation("counter", ins, sw, f"{key} stays blocked", change))
            elif now > was:
                if not self._rise_allowed(cmd, sw, key, targets, now):
                    found.append(
                        Violation(
                            "counter", ins, sw,
                            f"{key} rises only on its right VERIFY/CHANGE answered 9000", change,
                        )
                    )  # fmt: skip
            elif was - now > 1:
                found.append(Violation("counter", ins, sw, f"{key} falls by at most one", change))
            elif not (verify and cmd is not None and cmd.data) or (
                targets is not None and key not in targets
            ):
                found.append(
                    Violation("counter", ins, sw, f"{key} falls only on a VERIFY of {key}", change)
                )
        return found

    def _verify_accepted(
        self, cmd: Command, targets: set[str] | None, before: dict[str, int]
    ) -> list[Violation]:
        keys = targets if targets is not None else set(self.model.values)
        if not keys:
            return []
        if not any(self.model.is_right(key, cmd.data) for key in keys):
            return [
                Violation(
                    "counter", cmd.ins, 0x9000, "a wrong value is refused (63Cx or 6984)",
                    f"9000 for {len(cmd.data)} bytes that are not the value of "
                    f"{', '.join(sorted(keys))}",
                )
            ]  # fmt: skip
        if targets is not None and all(before.get(key, 1) == 0 for key in targets):
            return [
                Violation(
                    "counter", cmd.ins, 0x9000, "a blocked PIN stays blocked (6984)",
                    f"9000 on blocked {', '.join(sorted(targets))}",
                )
            ]  # fmt: skip
        return []

    def _rise_allowed(
        self, cmd: Command | None, sw: int | None, key: str, targets: set[str] | None, now: int
    ) -> bool:
        if cmd is None or sw != 0x9000 or now != self._max.get(key):
            return False
        if targets is not None and key not in targets:
            return False
        if cmd.ins == INS_VERIFY and cmd.cla == 0x00:
            return self.model.is_right(key, cmd.data)
        return _is_change(cmd)

    # -- the model ---------------------------------------------------------------------

    def _update(self, cmd: Command, sw: int) -> None:
        model = self.model
        ins = cmd.ins
        if ins == INS_SELECT and sw == 0x9000:
            self._select(cmd)
        elif ins == INS_READ_BINARY and cmd.p1 & 0x80 and cmd.cla == 0x00:
            self._sfi_read(cmd.p1 & 0x1F, sw, BINARY_MOVED, (*REJECTED, 0x6700))
        elif ins == INS_READ_RECORD and cmd.p2 >> 3 and cmd.cla == 0x00:
            self._sfi_read(cmd.p2 >> 3, sw, RECORD_MOVED, REJECTED)
        elif ins == INS_VERIFY and cmd.cla == 0x00 and cmd.data and sw == 0x9000:
            keys = model.pin_keys(model.referenced(cmd.p2))
            if keys is not None and len(keys) == 1:  # the value is now known for sure
                key = next(iter(keys))
                model.values[key] = cmd.data
                model.maybe_values.pop(key, None)
            self._grant(cmd.p2)
        elif _is_change(cmd) and sw == 0x9000:
            self._changed(cmd.p2, cmd.data)
            self._grant(cmd.p2)

    def _changed(self, p2: int, value: bytes) -> None:
        model = self.model
        model.secret_values.add(value)
        keys = model.pin_keys(model.referenced(p2))
        if keys is None and model.app is not None:  # an EF the model cannot name
            keys = {pin.key for pin in model.app.pins.values()}
        if keys is not None and len(keys) == 1:
            key = next(iter(keys))
            model.values[key] = value
            model.maybe_values.pop(key, None)
            model.changed.add(key)
            model.unsure_changed.discard(key)
            return
        for key in keys or ():
            model.maybe_values.setdefault(key, set()).add(value)
            model.unsure_changed.add(key)

    def _grant(self, p2: int) -> None:
        """The referenced PIN is verified; when the model cannot name it, every PIN of the
        application counts as verified (no finding can then come from a wrong guess)."""
        model = self.model
        if model.app is None:
            return
        referenced = model.referenced(p2)
        if UNKNOWN in referenced:
            model.verified |= set(model.app.pins)
        for fid in referenced:
            if fid is not None and fid in model.app.pins:
                model.verified.add(fid)

    def _select(self, cmd: Command) -> None:
        model = self.model
        if cmd.p1 == 0x04:
            app = model.facts.apps.get(cmd.data)
            if app is not None and app is model.app and not model.facts.reselect_clears_status:
                model.current = frozenset({None})  # section 4.3: the status is kept
            elif cmd.data == ISD_AID:
                model.clear("ISD SELECT")
            else:
                same = app is not None and app is model.app
                model.clear("re-SELECT" if same else "application SELECT")
            model.app = app
            model.unknown_app = app is None and cmd.data != ISD_AID
        elif cmd.p1 == 0x02:
            fid = int.from_bytes(cmd.data, "big") if len(cmd.data) == 2 else UNKNOWN
            known = model.app is not None and fid in model.app.efs
            model.current = frozenset({fid if known else UNKNOWN})
        elif cmd.p1 != 0x00:
            model.current = frozenset({UNKNOWN})

    def _sfi_read(
        self, sfi: int, sw: int, moved: tuple[int, ...], rejected: tuple[int, ...]
    ) -> None:
        """An SFI read makes the EF current: surely when it was read or refused for the
        file's sake (`moved`), surely not when the command was rejected as such
        (`rejected`); otherwise the model keeps both candidates."""
        model = self.model
        fid = model.by_sfi(sfi)
        if sw in moved:
            model.current = frozenset({UNKNOWN if fid is None else fid})
        elif fid is not None and sw not in rejected:
            model.current = model.current | {fid}

    # -- the state file ----------------------------------------------------------------

    def check_state_file(self, ins: int | None = None, sw: int | None = None) -> list[Violation]:
        """Load a copy of the state file with the project's StateFileStore (the live card
        holds the file's lock) and compare its counters with the live card's."""
        if self.state_file is None or self.identity is None:
            return []
        scratch = self._scratch or self.state_file.parent
        copy = scratch / f"reload-{self.state_file.name}"
        live = self._read_counters()
        try:
            content = self.state_file.read_bytes()
        except OSError as exc:
            return [Violation("state-file", ins, sw, "the state file loads", str(exc)[:300])]
        checked = (content, tuple(sorted(live.items())), frozenset(self.model.changed))
        if checked == self._state_checked:
            return []  # the very bytes already loaded and matched these counters
        try:
            copy.write_bytes(content)
            store = StateFileStore(copy, self.identity)
        except (OSError, StateFileError) as exc:
            return [Violation("state-file", ins, sw, "the state file loads", str(exc)[:300])]
        try:
            for key, remaining in live.items():
                record = store.get(key)
                saved = None if record is None else record.remaining
                if saved != remaining:
                    return [
                        Violation(
                            "state-file", ins, sw,
                            f"{key}: {remaining} tries in the file (as on the live card)",
                            f"{saved} in the file",
                        )
                    ]  # fmt: skip
                changed = record is not None and record.changed is not None
                if key not in self.model.unsure_changed and changed != (key in self.model.changed):
                    return [
                        Violation(
                            "state-file", ins, sw,
                            f"{key}: changed={key in self.model.changed} in the file",
                            f"changed={changed}",
                        )
                    ]  # fmt: skip
        finally:
            store.close()
        self._state_checked = checked
        return []


def _is_change(cmd: Command) -> bool:
    return (cmd.cla == 0x00 and cmd.ins == INS_CHANGE) or (
        cmd.cla == 0x80 and cmd.ins == INS_CHANGE_KEY
    )


def _changes_state(cmd: Command) -> bool:
    return (cmd.ins == INS_VERIFY and bool(cmd.data)) or _is_change(cmd)


def _ef_name(model: SessionModel, ef: Ef) -> str:
    return f"{model.app_name} EF {ef.fid:04X}"


def describe_action(action: Action) -> str:
    """A short, PIN-free name of an action for messages."""
    if action in (RESET, POWER_CYCLE):
        return str(action)
    raw = bytes(action) if isinstance(action, bytes) else b""
    return f"INS {raw[1]:02X}" if len(raw) > 1 else f"{len(raw)}-byte APDU"
