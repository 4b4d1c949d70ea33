"""The seam kits in docs/phone/kits: present, tiny, structurally sound, compiled where possible.

The Kotlin, Swift and Dart kits are documentation: this machine has no kotlinc, swiftc or
dart. What can be checked here is checked for real: each kit exists, stays under 50 lines
without comments and blank lines, declares the interface and both implementations with the
right platform APIs, and its brackets, braces and parentheses balance outside strings and
comments (string interpolation included). The compiler check is separate and runs only where
the toolchain is installed; where it is not, it is reported as skipped with the reason, never
passed. The TypeScript kit is compiled and run for real in test_typescript_kit.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KITS = ROOT / "docs" / "phone" / "kits"
MAX_LINES = 50
CLOSERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Kit:
    language: str
    path: Path
    interpolation: str  # what opens an expression inside a string literal
    declarations: tuple[str, ...]  # regexes the kit must match


KOTLIN = Kit(
    "kotlin",
    KITS / "kotlin" / "ApduTransport.kt",
    "${",
    (
        r"interface ApduTransport\s*\{\s*fun transceive\(apdu: ByteArray\): ByteArray",
        r"class IsoDepTransport\(private val isoDep: IsoDep\) : ApduTransport",
        r"isoDep\.transceive\(apdu\)",
        r"class BridgeTransport\(.*\) : ApduTransport",
        r"import okhttp3\.WebSocket\b",
        r"newWebSocket\(",
        r"toByteString\(\)",
    ),
)
SWIFT = Kit(
    "swift",
    KITS / "swift" / "ApduTransport.swift",
    "\\(",
    (
        r"protocol ApduTransport\s*\{\s*func transceive\(_ apdu: Data\) async throws -> Data",
        r"struct CoreNfcTransport: ApduTransport",
        r"let tag: NFCISO7816Tag",
        r"tag\.sendCommand\(apdu:",
        r"final class BridgeTransport: ApduTransport",
        r"URLSessionWebSocketTask",
        r"task\.send\(\.data\(apdu\)\)",
    ),
)
DART = Kit(
    "dart",
    KITS / "dart" / "apdu_transport.dart",
    "${",
    (
        r"abstract interface class ApduTransport\s*\{\s*"
        r"Future<Uint8List> transceive\(Uint8List apdu\);",
        r"class NfcKitTransport implements ApduTransport",
        r"FlutterNfcKit\.transceive<Uint8List>\(apdu\)",
        r"class BridgeTransport implements ApduTransport",
        r"import 'package:web_socket_channel/web_socket_channel.dart';",
        r"WebSocketChannel\.connect\(",
    ),
)
TYPESCRIPT = Kit(
    "typescript",
    KITS / "typescript" / "src" / "transport.ts",
    "${",
    (
        r"export interface ApduTransport\s*\{\s*"
        r"transceive\(apdu: Uint8Array\): Promise<Uint8Array>",
        r"export class IsoDepTransport implements ApduTransport",
        r"this\.handler\.transceive\(Array\.from\(apdu\)\)",
        r"export class BridgeTransport implements ApduTransport",
        r"new WebSocket\(url\)",
        r"binaryType = 'arraybuffer'",
    ),
)
ALL = [KOTLIN, SWIFT, DART, TYPESCRIPT]
DOCUMENTATION_KITS = [KOTLIN, SWIFT, DART]


def code_lines(source: str) -> list[str]:
    """The lines that are neither blank nor only comment (`//`, `///`, `/* ... */`)."""
    without_blocks = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return [
        line
        for line in without_blocks.splitlines()
        if line.strip() and not line.strip().startswith("//")
    ]


def balance_problem(source: str, interpolation: str) -> str | None:
    """None if (), [] and {} pair up outside string literals and comments, else what is wrong.

    Strings are "...", '...' and `...`; inside one, `interpolation` ("${" or Swift's "\\(")
    opens code again until its matching closer, so quotes inside an interpolated expression
    are read as code, as the compilers read them.
    """
    expected: list[str] = []  # closers; "S<quote>" marks the string an interpolation returns to
    quote: str | None = None
    line = 1
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\n":
            line += 1
        if quote is not None:
            if source.startswith(interpolation, i):
                expected += [f"S{quote}", ")" if interpolation.endswith("(") else "}"]
                quote = None
                i += len(interpolation)
                continue
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
            elif char == "\n" and quote != "`":
                return f"line {line - 1}: unterminated string"
            i += 1
            continue
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                return f"line {line}: unterminated comment"
            line += source.count("\n", i, end)
            i = end + 2
            continue
        if char in "\"'`":
            quote = char
        elif char in CLOSERS:
            expected.append(CLOSERS[char])
        elif char in ")]}":
            if not expected or expected[-1] != char:
                return f"line {line}: {char!r} closes nothing open"
            expected.pop()
            if expected and expected[-1].startswith("S"):
                quote = expected.pop()[1]
        i += 1
    if quote is not None:
        return "unterminated string at the end"
    if expected:
        return f"{len(expected)} bracket(s) never closed"
    return None


@pytest.mark.parametrize("kit", ALL, ids=lambda kit: kit.language)
def test_kit_is_small_and_declares_both_transports(kit: Kit) -> None:
    assert kit.path.is_file(), f"missing kit {kit.path}"
    source = kit.path.read_text(encoding="utf-8")
    lines = code_lines(source)
    assert 20 <= len(lines) <= MAX_LINES, f"{kit.path.name}: {len(lines)} code lines"
    for pattern in kit.declarations:
        assert re.search(pattern, source), f"{kit.path.name} lacks {pattern!r}"
    assert '"""' not in source and "'''" not in source  # the balance check reads no triple quotes
    problem = balance_problem(source, kit.interpolation)
    assert problem is None, f"{kit.path.name}: {problem}"


@pytest.mark.parametrize("kit", ALL, ids=lambda kit: kit.language)
def test_kit_readme_says_how_to_reach_the_bridge(kit: Kit) -> None:
    readme = (kit.path.parent if kit.language != "typescript" else kit.path.parents[1]) / (
        "README.md"
    )
    text = readme.read_text(encoding="utf-8")
    assert kit.path.name in text
    assert "127.0.0.1:PORT" in text
    profiles = {"kotlin": ["android-isodep", "android-hce"], "swift": ["ios-corenfc"]}
    for profile in profiles.get(kit.language, ["android-isodep", "ios-corenfc", "android-hce"]):
        assert f"`{profile}`" in text, f"{readme} does not say when to use {profile}"
    if kit.language == "swift":
        assert "Simulator" in text
    else:
        assert "10.0.2.2:PORT" in text and "adb reverse tcp:PORT tcp:PORT" in text


@pytest.mark.parametrize("kit", ALL, ids=lambda kit: kit.language)
def test_balance_check_catches_a_broken_kit(kit: Kit) -> None:
    """The structural check can fail: drop the last closing brace, or break an interpolation."""
    source = kit.path.read_text(encoding="utf-8")
    cut = source.rindex("}")
    assert balance_problem(source[:cut] + source[cut + 1 :], kit.interpolation) is not None
    assert balance_problem(source + "\n(", kit.interpolation) is not None
    assert balance_problem(source + '\nx = "open', kit.interpolation) is not None
    opener = kit.interpolation
    broken = f'x = "a {opener}f("b")"'  # interpolation never closed before the string ends
    assert balance_problem(source + "\n" + broken + "\n", kit.interpolation) is not None
    closer = ")" if opener.endswith("(") else "}"
    fine = f'x = "a {opener}f("b"){closer} c"'
    assert balance_problem(source + "\n" + fine + "\n", kit.interpolation) is None


def compiler_command(kit: Kit) -> tuple[list[str] | None, str]:
    """The syntax check to run for `kit` on this machine, or None and why not."""
    if kit.language == "swift":
        swiftc = shutil.which("swiftc")
        if swiftc is None:
            return None, "swiftc is not installed"
        return [swiftc, "-parse", str(kit.path)], "swiftc -parse (syntax only: no CoreNFC here)"
    if kit.language == "dart":
        dart = shutil.which("dart")
        if dart is None:
            return None, "dart is not installed"
        return [dart, "format", "--output=none", str(kit.path)], "dart format (parses the file)"
    kotlinc = shutil.which("kotlinc")
    if kotlinc is None:
        return None, "kotlinc is not installed"
    classpath = os.environ.get("MYNASIM_KOTLIN_CLASSPATH")
    if not classpath:
        return None, (
            "kotlinc is installed but MYNASIM_KOTLIN_CLASSPATH (android.jar, okhttp, okio, "
            "org.json) is not set; kotlinc has no syntax-only mode"
        )
    command = [kotlinc, "-cp", classpath, "-d", os.devnull, str(kit.path)]
    return command, "kotlinc with MYNASIM_KOTLIN_CLASSPATH"


@pytest.mark.parametrize("kit", DOCUMENTATION_KITS, ids=lambda kit: kit.language)
def test_kit_compiles_where_its_toolchain_exists(kit: Kit) -> None:
    command, how = compiler_command(kit)
    if command is None:
        pytest.skip(f"{kit.path.name} NOT compiled here: {how} (only the structural checks ran)")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{how}:\n{result.stdout}{result.stderr}"
