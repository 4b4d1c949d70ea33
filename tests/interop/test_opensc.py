"""OpenSC as a third-party client: its jpki driver, pkcs15-tool and the PKCS#11 module."""

from __future__ import annotations

import glob
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.stack import ServedCard

MESSAGE = b"mynasim interop: a message to sign\n"
TOKENS = {"auth": (0, "01", "1234"), "sign": (1, "02", "ABC123")}


def opensc_module() -> str:
    found = sorted(
        glob.glob("/usr/lib/*/opensc-pkcs11.so") + glob.glob("/usr/lib/opensc-pkcs11.so")
    )
    assert found, "OpenSC's PKCS#11 module is not installed (apt-get install opensc)"
    return found[0]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSC_")}  # default config
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def pkcs11(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("pkcs11-tool", "--module", opensc_module(), *args, check=check)


def tries_left() -> dict[str, int]:
    out = run("pkcs15-tool", "-D").stdout
    pins = re.findall(r"PIN \[(.+?)\].*?Tries left\s*:\s*(\d+)", out, flags=re.DOTALL)
    return {name: int(left) for name, left in pins}


def sign(
    which: str, tmp_path: Path, pin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    slot, key_id, default_pin = TOKENS[which]
    return pkcs11(
        "--slot-index", str(slot), "--login", "--pin", pin or default_pin, "--sign",
        "--mechanism", "SHA256-RSA-PKCS", "--id", key_id,
        "-i", str(tmp_path / "message.bin"), "-o", str(tmp_path / f"{which}.sig"),
        check=check,
    )  # fmt: skip


def read_certificate(which: str, tmp_path: Path) -> x509.Certificate:
    slot, key_id, pin = TOKENS[which]
    out = tmp_path / f"{which}.der"
    login = ["--login", "--pin", pin] if which == "sign" else []  # EF 0001 is behind the password
    pkcs11(
        "--slot-index",
        str(slot),
        *login,
        "--read-object",
        "--type",
        "cert",
        "--id",
        key_id,
        "-o",
        str(out),
    )
    return x509.load_der_x509_certificate(out.read_bytes())


def test_opensc_tool_names_the_card_jpki(served: ServedCard) -> None:
    result = run("opensc-tool", "-n")
    assert result.stdout.strip().splitlines()[-1] == "jpki"


def test_pkcs15_tool_lists_certificates_and_pins(served: ServedCard) -> None:
    out = run("pkcs15-tool", "-D").stdout
    for name in (
        "User Authentication Certificate]",
        "Digital Signature Certificate]",
        "User Authentication Certificate CA]",
        "Digital Signature Certificate CA]",
    ):
        assert f"X.509 Certificate [{name}" in out
    assert tries_left() == {"User Authentication PIN": 3, "Digital Signature PIN": 5}
    served.ctl("POST", "/cards/0/pins/auth", {"remaining": 2})
    served.ctl("POST", "/cards/0/pins/sign", {"remaining": 4})
    assert tries_left() == {"User Authentication PIN": 2, "Digital Signature PIN": 4}


@pytest.mark.parametrize("which", TOKENS)
def test_pkcs11_signature_verifies_against_the_card_certificate(
    served: ServedCard, tmp_path: Path, which: str
) -> None:
    (tmp_path / "message.bin").write_bytes(MESSAGE)
    sign(which, tmp_path)
    signature = (tmp_path / f"{which}.sig").read_bytes()
    certificate = read_certificate(which, tmp_path)
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    # and with openssl, as a relying party's shell script would
    pem = tmp_path / "cert.pem"
    pem.write_bytes(certificate.public_bytes(serialization_pem()))
    pubkey = run("openssl", "x509", "-in", str(pem), "-pubkey", "-noout").stdout
    (tmp_path / "pub.pem").write_text(pubkey)
    run("openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"),
        "-signature", str(tmp_path / f"{which}.sig"), str(tmp_path / "message.bin"))  # fmt: skip


def serialization_pem():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def test_a_wrong_pin_costs_one_try_and_a_lockout_survives_a_restart(
    served: ServedCard, tmp_path: Path
) -> None:
    (tmp_path / "message.bin").write_bytes(MESSAGE)
    result = sign("auth", tmp_path, pin="9999", check=False)
    assert result.returncode != 0 and "CKR_PIN_INCORRECT" in result.stderr
    assert tries_left()["User Authentication PIN"] == 2
    for _ in range(2):
        sign("auth", tmp_path, pin="9999", check=False)
    assert tries_left()["User Authentication PIN"] == 0
    assert "user PIN locked" in pkcs11("-L").stdout
    assert sign("auth", tmp_path, check=False).returncode != 0  # the right PIN no longer helps
    served.stop()
    served.start()
    assert tries_left()["User Authentication PIN"] == 0
    assert "user PIN locked" in pkcs11("-L").stdout
    assert tries_left()["Digital Signature PIN"] == 5


def test_card_pulled_mid_signature(served: ServedCard, tmp_path: Path) -> None:
    (tmp_path / "message.bin").write_bytes(MESSAGE)
    served.ctl("POST", "/cards/0/remove", {"ins": "2A", "when": "after"})
    result = sign("auth", tmp_path, check=False)
    assert result.returncode != 0, result.stdout
    assert not (tmp_path / "auth.sig").exists() or (tmp_path / "auth.sig").stat().st_size == 0
    status = served.ctl("GET", "/status")["cards"][0]
    assert status["inserted"] is False
    served.wait_absent()
    served.ctl("POST", "/cards/0/insert")
    served.wait_present()
    sign("auth", tmp_path)
    assert (tmp_path / "auth.sig").stat().st_size == 256
