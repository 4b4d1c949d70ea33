"""Third-party relying-party templates, the PKCS#11 adapter's token choice and error mapping,
and the pyHanko driver's own refusals: all without a card (the PC/SC runs are in
tests/interop/test_rp_thirdparty.py)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rp_helpers import step_context

from conformance.rp import pyhanko_rp
from conformance.rp.context import (
    ACCEPTED,
    ERROR,
    PLACEHOLDER_NAMES,
    REJECTED,
    StepContext,
    StepOutcome,
)
from conformance.rp.pkcs11 import (
    TOKEN_LABELS,
    Pkcs11Adapter,
    TokenNotFoundError,
    outcome_for_exception,
    pick_token,
)
from conformance.rp.thirdparty import THIRD_PARTY, ThirdParty, missing

try:
    import pkcs11
except ImportError:  # python-pkcs11 (used by the adapter and pyHanko) is not installed
    pkcs11 = None

needs_pkcs11 = pytest.mark.skipif(pkcs11 is None, reason="python-pkcs11 is not installed")

READER = "Virtual PCD 00 00"


def context(tmp_path: Path, flow: str = "login", pin: str = "1234", timeout: float = 10) -> Any:
    return step_context(
        tmp_path, flow=flow, pin=pin, timeout=timeout,  # type: ignore[arg-type]
        pkcs11_module="/nonexistent/fake-pkcs11.so",
    )  # fmt: skip


# ------------------------------------------------------------------ third-party templates


def test_the_known_third_parties() -> None:
    assert set(THIRD_PARTY) >= {"pkcs11-tool", "pyhanko"}
    tool, hanko = THIRD_PARTY["pkcs11-tool"], THIRD_PARTY["pyhanko"]
    assert tool.flows == ("login", "sign") and tool.pin_via == "arg"
    assert hanko.flows == ("sign",) and hanko.pin_via == "env"
    login, sign = tool.template("login"), tool.template("sign")
    assert login[login.index("--token-label") + 1] == TOKEN_LABELS["login"]
    assert sign[sign.index("--token-label") + 1] == TOKEN_LABELS["sign"]
    assert login[login.index("--id") + 1] == "01" and sign[sign.index("--id") + 1] == "02"
    assert "{challenge_file}" in login and "{data_file}" in sign
    assert "{pin}" not in " ".join(hanko.template("sign"))  # the password goes in MYNASIM_PIN
    with pytest.raises(KeyError):
        hanko.template("login")


@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_templates_use_only_known_placeholders(name: str) -> None:
    import re

    party = THIRD_PARTY[name]
    for flow in party.flows:
        used = set(re.findall(r"\{([a-z_]+)\}", " ".join(party.template(flow))))
        assert used <= set(PLACEHOLDER_NAMES), used - set(PLACEHOLDER_NAMES)
        assert ("pin" in used) == (party.pin_via == "arg")
    assert set(party.templates) == set(party.flows)


def test_missing_names_what_is_not_installed() -> None:
    party = ThirdParty(
        name="x",
        description="",
        flows=("login",),
        pin_via="env",
        templates={"login": ("true",)},
        programs=("sh", "no-such-program-mynasim"),
        modules=("json", "no_such_module_mynasim"),
    )
    assert party.missing() == [
        "program no-such-program-mynasim",
        "Python module no_such_module_mynasim",
    ]
    assert missing("pyhanko") == THIRD_PARTY["pyhanko"].missing()


def test_the_adapter_runs_the_template_of_the_steps_flow(tmp_path: Path) -> None:
    script = (
        "import json, os, sys; "
        "print(json.dumps({'outcome': 'accepted', 'reason': sys.argv[1] + ' ' + "
        "str(os.environ.get('MYNASIM_PIN') == '1234') + ' ' + str(os.environ.get('OPENSC_X'))}))"
    )
    party = ThirdParty(
        name="fake",
        description="",
        flows=("login",),
        pin_via="env",
        templates={"login": (sys.executable, "-c", script, "{flow}")},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENSC_X", "set")  # dropped: OpenSC runs with its default configuration
        adapter = party.adapter()
    outcome = adapter.run(context(tmp_path))
    assert (outcome.outcome, outcome.reason) == (ACCEPTED, "login True None")
    refused = adapter.run(context(tmp_path, flow="sign"))
    assert refused.outcome == ERROR and "does not do the sign flow" in refused.reason


# ------------------------------------------------------------------ PKCS#11 adapter (fakes)


@dataclass
class FakeToken:
    label: str
    flags: int = 0


@dataclass
class FakeSlot:
    slot_description: str
    token: FakeToken | None

    def get_token(self) -> FakeToken:
        if self.token is None:
            raise pkcs11.TokenNotPresent()  # type: ignore[union-attr]
        return self.token


@dataclass
class FakeLib:
    slots: list[FakeSlot] = field(default_factory=list)
    finalized: int = 0

    def finalize(self) -> None:
        self.finalized += 1

    def get_slots(self, token_present: bool = False) -> list[FakeSlot]:
        return [s for s in self.slots if s.token is not None or not token_present]


def jpki_slots(reader: str, padded: bool = True) -> list[FakeSlot]:
    description = reader.ljust(64) if padded else reader
    return [
        FakeSlot(description, FakeToken(TOKEN_LABELS["login"].ljust(32))),
        FakeSlot(description, FakeToken(TOKEN_LABELS["sign"].ljust(32))),
    ]


@needs_pkcs11
def test_pick_token_by_label_in_the_steps_reader() -> None:
    lib = FakeLib(
        [
            FakeSlot("Other Reader 00 00", FakeToken(TOKEN_LABELS["sign"])),
            *jpki_slots(READER),
            FakeSlot("Virtual PCD 00 01", None),
        ]
    )
    picked = pick_token(lib, "sign", READER)
    assert picked.token is lib.slots[2].token and picked.slot_description == READER
    assert pick_token(lib, "login", READER).token is lib.slots[1].token
    assert pick_token(lib, "sign", "").token is lib.slots[0].token  # no reader: the first one
    renamed = FakeLib([FakeSlot(READER, FakeToken("MyCard (Digital Signature PIN)"))])
    assert pick_token(renamed, "sign", READER).token.label.startswith("MyCard")
    with pytest.raises(TokenNotFoundError, match="no 'JPKI \\(User Authentication PIN\\)'"):
        pick_token(renamed, "login", READER)
    with pytest.raises(TokenNotFoundError, match="tokens present: none"):
        pick_token(FakeLib([FakeSlot(READER, None)]), "login", READER)


@needs_pkcs11
@pytest.mark.parametrize(
    ("error", "state", "outcome", "words"),
    [
        ("PinIncorrect", "present", REJECTED, "CKR_PIN_INCORRECT"),
        ("PinLocked", "present", REJECTED, "CKR_PIN_LOCKED"),
        ("PinLenRange", "present", REJECTED, "CKR_PIN_LEN_RANGE"),
        ("GeneralError", "locked", REJECTED, "PIN locked"),
        ("GeneralError", "present", ERROR, "PKCS#11 error GeneralError"),
        ("GeneralError", "gone", ERROR, "card removed?"),
        ("DeviceRemoved", "gone", ERROR, "DeviceRemoved"),
        ("TokenNotPresent", "present", ERROR, "TokenNotPresent"),
        ("ValueError", "present", ERROR, "unexpected exception ValueError: bad"),
    ],
)
def test_exceptions_become_outcomes(error: str, state: str, outcome: str, words: str) -> None:
    exc = ValueError("bad") if error == "ValueError" else getattr(pkcs11, error)()
    result = outcome_for_exception(exc, state=state)
    assert result.outcome == outcome and words in result.reason, result.reason


@pytest.fixture
def fake_lib(monkeypatch: pytest.MonkeyPatch) -> FakeLib:
    if pkcs11 is None:
        pytest.skip("python-pkcs11 is not installed")
    lib = FakeLib(jpki_slots(READER))
    monkeypatch.setattr(pkcs11, "lib", lambda path: lib)
    return lib


def test_the_adapter_hands_the_flows_token_to_the_callable(
    fake_lib: FakeLib, tmp_path: Path
) -> None:
    seen: list[str] = []

    def rp(ctx: StepContext, token: Any) -> dict[str, Any]:
        seen.append(token.label.strip())
        return {"outcome": "accepted", "reason": "ok", "identity": {"name": "x"}}

    adapter = Pkcs11Adapter(rp)
    assert adapter.name == "pkcs11:rp"
    outcome = adapter.run(context(tmp_path, flow="sign"))
    assert outcome.outcome == ACCEPTED and outcome.identity == {"name": "x"}
    assert seen == [TOKEN_LABELS["sign"]]
    assert outcome.extra["token"] == TOKEN_LABELS["sign"] and outcome.duration > 0
    assert fake_lib.finalized == 1  # every step starts from a fresh module


def test_the_adapter_turns_what_the_callable_raises_into_outcomes(
    fake_lib: FakeLib, tmp_path: Path
) -> None:
    def raises(exc: Exception, pull: bool = False) -> Any:
        def rp(ctx: StepContext, token: Any) -> StepOutcome:
            if pull:
                fake_lib.slots[0].token = None  # the card leaves during the operation
            raise exc

        return Pkcs11Adapter(rp).run(context(tmp_path))

    wrong = raises(pkcs11.PinIncorrect())
    assert wrong.outcome == REJECTED and "CKR_PIN_INCORRECT" in wrong.reason
    fake_lib.slots[0].token.flags = int(pkcs11.TokenFlag.USER_PIN_LOCKED)  # type: ignore[union-attr]
    locked = raises(pkcs11.GeneralError())
    assert locked.outcome == REJECTED and "PIN locked" in locked.reason
    fake_lib.slots[0].token.flags = 0  # type: ignore[union-attr]
    gone = raises(pkcs11.GeneralError(), pull=True)
    assert gone.outcome == ERROR and "card removed?" in gone.reason
    fake_lib.slots[0].token = FakeToken(TOKEN_LABELS["login"])
    crash = raises(KeyError("oops"))
    assert crash.outcome == ERROR and "KeyError" in crash.reason


def test_the_adapter_without_a_token_bad_results_and_hangs(
    fake_lib: FakeLib, tmp_path: Path
) -> None:
    absent = Pkcs11Adapter(lambda c, t: StepOutcome(ACCEPTED)).run(
        _in_reader(context(tmp_path), "Virtual PCD 00 01")
    )
    assert absent.outcome == ERROR and "no 'JPKI (User Authentication PIN)' token" in absent.reason
    bad = Pkcs11Adapter(lambda c, t: {"outcome": "fine"}).run(context(tmp_path))
    assert bad.outcome == ERROR and "returned" in bad.reason
    tells = Pkcs11Adapter(lambda c, t: StepOutcome(REJECTED, f"PIN {c.pin} refused"))
    assert tells.run(context(tmp_path)).reason == "PIN ** refused"  # redacted

    def hangs(ctx: StepContext, token: Any) -> StepOutcome:
        time.sleep(5)
        return StepOutcome(ACCEPTED)

    start = time.monotonic()
    finalized = fake_lib.finalized
    hung = Pkcs11Adapter(hangs).run(context(tmp_path, timeout=0.3))
    assert (
        hung.outcome == ERROR
        and "no result within 0.3 s" in hung.reason
        and hung.extra["hung"] == 0.3
    )
    assert time.monotonic() - start < 2
    assert fake_lib.finalized == finalized  # not by the abandoned step, not yet


def _in_reader(ctx: StepContext, reader: str) -> StepContext:
    import dataclasses

    return dataclasses.replace(ctx, reader=reader)


@needs_pkcs11
def test_the_adapter_reports_a_module_that_does_not_load(tmp_path: Path) -> None:
    outcome = Pkcs11Adapter(lambda c, t: StepOutcome(ACCEPTED), module="/nonexistent.so").run(
        context(tmp_path)
    )
    assert outcome.outcome == ERROR and "cannot load the PKCS#11 module" in outcome.reason


# ------------------------------------------------------------------ pyHanko driver


def run_driver(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, dict[str, Any]]:
    code = pyhanko_rp.main(list(argv))
    lines = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(lines[-1])


def test_the_driver_needs_the_password_and_roots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["sign", "--pdf", str(tmp_path / "in.pdf"), "--out", str(tmp_path / "out.pdf")]
    args += ["--now", "2026-11-27T03:00:00Z", "--sign-roots", str(tmp_path / "roots.pem")]
    monkeypatch.delenv("MYNASIM_PIN", raising=False)
    code, result = run_driver(capsys, monkeypatch, *args)
    assert code == 2 and result["outcome"] == "error" and "MYNASIM_PIN" in result["reason"]
    monkeypatch.setenv("MYNASIM_PIN", "ABC123")
    code, result = run_driver(capsys, monkeypatch, *args)  # the roots file does not exist
    assert code == 2 and result["outcome"] == "error"
    assert "FileNotFoundError" in result["reason"] and "ABC123" not in result["reason"]
    (tmp_path / "roots.pem").write_text("")
    code, result = run_driver(capsys, monkeypatch, *args)  # never the system trust store
    assert code == 2 and result["reason"].startswith("no certificates in")


def test_parse_now() -> None:
    expected = dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC)
    assert pyhanko_rp.parse_now("2026-11-27T03:00:00Z") == expected
    assert pyhanko_rp.parse_now("2026-11-27T12:00:00+09:00") == expected
