"""benchmarks/phone.py runs (a quick smoke run in a subprocess: it pins itself to one core)
and reports every measurement with sane numbers; the numbers themselves are not judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_phone_benchmark_reports_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "phone.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "phone.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(out.read_text())
    for group in ("bridge_raw", "bridge_android-isodep", "listen"):
        for apdu in ("select_ef", "read_binary_256"):
            figures = results[group][apdu]
            assert figures["card_median_us"] > 0 and figures["echo_median_us"] > 0
            ratio = figures["card_median_us"] / figures["echo_median_us"]
            assert abs(figures["ratio"] - ratio) < 0.01  # the medians are rounded to 0.1 us
    certificate = results["certificate_read_android_isodep"]
    assert certificate["certificate_bytes"] > 1000 and certificate["median_ms"] > 0
    assert "bridge raw:" in run.stdout and "listen mode:" in run.stdout
