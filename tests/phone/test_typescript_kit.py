"""The TypeScript seam kit (docs/phone/kits/typescript) against the real bridge.

The kit's reader is compiled with the TypeScript compiler the kit pins (strict, `tsc --noEmit`
clean) and run with the machine's Node (`--experimental-websocket`: Node 20's standard
WebSocket) against a real `mynasim serve --bridge` child, for every front-end profile and the
card, Android and iPhone personas. Python then checks what the "app" printed: the certificate
is the persona's, the signature verifies over the digest the test chose, the tries left are
right; and a wrong PIN stops the reader at 63C2 with exactly one try spent on the card.

Nothing here skips: without node or the kit's node_modules the tests fail and say what to run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from serve_process import ROOT, ServeProcess, control_request

KIT = ROOT / "docs" / "phone" / "kits" / "typescript"
EE = ROOT / "fixtures" / "pki" / "ee"
JPKI_AID = "D392F000260100000001"
PROFILES = ["raw", "android-isodep", "android-hce", "ios-corenfc"]
PERSONAS = ["default", "android", "ios"]
PHONE_TOKENS = {"android", "ios"}
INSTALL = "npm ci --prefix docs/phone/kits/typescript --no-audit --no-fund"
CONTROL_LINE = re.compile(r"^control: http://127\.0\.0\.1:(\d+)", re.MULTILINE)
BRIDGE_LINE = re.compile(r"^bridge: (ws://127\.0\.0\.1:\d+)", re.MULTILINE)


def node() -> str:
    """The machine's Node (>= 20.10 for --experimental-websocket); a failure says what to do."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node not found: install Node.js >= 20.10 (Debian: apt-get install nodejs)")
    return found


def tsc() -> Path:
    """The kit's pinned TypeScript compiler; a failure says what to run."""
    compiler = KIT / "node_modules" / ".bin" / "tsc"
    if not compiler.exists():
        pytest.fail(f"{compiler} missing: run `{INSTALL}` (tox does it in commands_pre)")
    return compiler


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_kit_compiles_clean_under_strict() -> None:
    config = json.loads((KIT / "tsconfig.json").read_text(encoding="utf-8"))
    assert config["compilerOptions"]["strict"] is True
    node()
    result = run([str(tsc()), "-p", str(KIT / "tsconfig.json"), "--noEmit"], cwd=KIT)
    assert result.returncode == 0, f"tsc --noEmit:\n{result.stdout}{result.stderr}"
    assert result.stdout == "" and result.stderr == ""


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled reader's entry point (CommonJS in a temporary build directory)."""
    build = tmp_path_factory.mktemp("ts-build")
    node()
    result = run([str(tsc()), "-p", str(KIT / "tsconfig.json"), "--outDir", str(build)], cwd=KIT)
    assert result.returncode == 0, f"tsc:\n{result.stdout}{result.stderr}"
    return build / "main.js"


def start_bridge(log_dir: Path, *extra: str) -> tuple[ServeProcess, str]:
    """`mynasim serve --no-vpcd --bridge ws://127.0.0.1:0`: the child and the bridge's URL
    (serve prints the line once the bridge listens)."""
    args = ["--no-vpcd", "--bridge", "ws://127.0.0.1:0", "--control", "127.0.0.1:0", *extra]
    serve = ServeProcess(args, log_dir, "bridge")
    try:
        return serve, serve.wait_for_stdout(BRIDGE_LINE).group(1)
    except BaseException:
        serve.kill()
        raise


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `mynasim serve --bridge` for the matrix: every connection gets a fresh card of
    the persona its hello names."""
    serve, url = start_bridge(tmp_path_factory.mktemp("bridge"))
    with serve:
        yield url
        assert serve.alive(), serve.output()


def read_card(
    main_js: Path, url: str, profile: str, digest: bytes, pin: str, *more: str
) -> tuple[int, dict[str, Any], str]:
    """Run the compiled reader once (one tap): exit status, its JSON line, its stderr."""
    command = [node(), "--experimental-websocket", str(main_js), "--url", url]
    command += ["--profile", profile, "--digest", digest.hex(), *more]
    result = run(command, env={**os.environ, "JPKI_AUTH_PIN": pin})
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"reader printed {result.stdout!r}, stderr {result.stderr!r}"
    return result.returncode, json.loads(lines[0]), result.stderr


def verify_signature(certificate: x509.Certificate, signature: bytes, digest: bytes) -> None:
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@pytest.mark.interop
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("profile", PROFILES)
def test_reader_signs_through_every_profile(
    reader: Path, bridge: str, profile: str, persona: str
) -> None:
    digest = hashlib.sha256(f"mynasim typescript kit {profile} {persona}".encode()).digest()
    code, line, stderr = read_card(reader, bridge, profile, digest, "1234", "--persona", persona)
    assert code == 0 and line["ok"] is True, f"{line} {stderr}"
    assert "1234" not in json.dumps(line) + stderr  # the PIN is never printed
    expected = (EE / f"{persona}-auth.der").read_bytes()
    certificate = bytes.fromhex(line["certificate_hex"])
    assert certificate == expected
    assert base64.b64decode(line["certificate_base64"]) == expected
    assert len(expected) > 261  # read in pieces: the certificate alone exceeds IsoDep's cap
    assert bytes.fromhex(line["digest_hex"]) == digest
    signature = bytes.fromhex(line["signature_hex"])
    assert len(signature) == 256
    verify_signature(x509.load_der_x509_certificate(expected), signature, digest)
    assert line["tries_left"] == 3
    assert line["pin_before_certificate"] is (persona in PHONE_TOKENS)
    assert line["persona"] == persona
    if profile == "android-isodep":
        assert line["interface"] == "contactless-b"
    if profile == "android-hce":
        assert line["interface"] == "contactless-a"
    if profile == "ios-corenfc":
        assert line["initial_selected_aid"] == JPKI_AID
    else:
        assert line["initial_selected_aid"] is None


def auth_pin(control_port: int) -> dict[str, Any]:
    status, body = control_request(control_port, "GET", "/status")
    assert status == 200, body
    pin: dict[str, Any] = body["cards"][0]["pins"]["jpki/0018"]
    return pin


@pytest.mark.interop
def test_wrong_pin_stops_at_63c2_after_exactly_one_try(reader: Path, tmp_path: Path) -> None:
    """The shared card (slot 0's) outlives the session, so the spent try is visible on it."""
    serve, url = start_bridge(tmp_path, "--bridge-shared")
    with serve:
        control = int(serve.wait_for_stdout(CONTROL_LINE).group(1))
        assert auth_pin(control)["remaining"] == 3
        digest = hashlib.sha256(b"never signed").digest()
        code, line, stderr = read_card(reader, url, "android-isodep", digest, "9999")
        assert code == 1, f"{line} {stderr}"
        assert line == {
            "ok": False,
            "profile": "android-isodep",
            "error": "wrong-pin",
            "sw": "63C2",
            "tries_left": 2,
        }
        assert "9999" not in stderr
        assert auth_pin(control)["remaining"] == 2  # one VERIFY, no retry
        assert serve.alive(), serve.output()


@pytest.mark.interop
def test_ios_app_whose_list_lacks_the_jpki_aid_is_refused(reader: Path, bridge: str) -> None:
    """iOS refuses a SELECT of an AID missing from Info.plist; the reader reports it and stops."""
    digest = hashlib.sha256(b"never signed").digest()
    aids = "D3921000310001010408,D3921000310001010100"  # text and common APs, no JPKI
    code, line, stderr = read_card(reader, bridge, "ios-corenfc", digest, "1234", "--aids", aids)
    assert code == 1, f"{line} {stderr}"
    assert line["error"] == "bridge" and line["code"] == "missing-entitlement", line
