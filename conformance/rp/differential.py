"""Differential view: the verdicts of several relying parties, scenario by scenario.

`verdict_table` turns rp-check results (or report.jsonl files) into a Markdown table with the
first failure line of each; `read_verdict_table` reads the verdicts back, so a committed
table (conformance/rp/THIRD_PARTY.md) can be compared with a new run in CI: when OpenSC or
pyHanko changes its behaviour, the test says where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from conformance.report import Result, read_jsonl
from conformance.rp.scenarios import CATALOGUE

ROW = re.compile(r"^\| `(?P<nodeid>RP-[A-Z]+-\d{3}\[(?:login|sign)\])` \| (?P<cells>.*) \|$")


def results_of(report_dir: Path) -> list[Result]:
    return read_jsonl(report_dir / "report.jsonl")[1]


def verdict_table(runs: Mapping[str, Sequence[Result]], *, title: str, intro: str) -> str:
    names = list(runs)
    by_rp = {name: {r.nodeid: r for r in results} for name, results in runs.items()}
    nodeids = [f"{s.id}[{flow}]" for s in CATALOGUE for flow in s.flows]
    lines = [f"# {title}", "", intro, ""]
    lines.append("| Scenario | Title | " + " | ".join(names) + " | What the oracles found |")
    lines.append("|---|---|" + "---|" * len(names) + "---|")
    for nodeid in nodeids:
        cells = []
        found = []
        for name in names:
            result = by_rp[name].get(nodeid)
            cells.append(result.verdict if result else "-")
            if result and result.verdict in ("FAIL", "ERROR") and result.message:
                first = result.message.splitlines()[0].replace("|", "\\|")
                found.append(f"{name}: {first}")
        title_of = next(s.title for s in CATALOGUE if nodeid.startswith(s.id + "["))
        cells = [title_of, *cells, "<br>".join(found)]
        lines.append(f"| `{nodeid}` | " + " | ".join(cells) + " |")
    counts = []
    for name in names:
        verdicts = [r.verdict for r in runs[name]]
        summary = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))
        counts.append(f"- {name}: {summary}")
    return "\n".join([*lines, "", *counts, ""])


def read_verdict_table(text: str) -> dict[tuple[str, str], str]:
    """{(relying party, nodeid): verdict} from a table made by `verdict_table`."""
    names: list[str] = []
    verdicts: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        if line.startswith("| Scenario | "):
            names = [cell.strip() for cell in line.strip("|").split("|")[2:-1]]
            continue
        match = ROW.match(line)
        if match is None or not names:
            continue
        cells = [cell.strip() for cell in match["cells"].split(" | ")][1 : 1 + len(names)]
        for name, cell in zip(names, cells, strict=True):
            verdicts[(name, match["nodeid"])] = cell
    return verdicts


THIRD_PARTY_TITLE = "Third-party relying parties through the harness"
THIRD_PARTY_INTRO = (
    "What `mynasim rp-check --rp pkcs11-tool` (OpenSC's pkcs11-tool: PKCS#11 login and "
    "signature, no certificate checks at all) and `mynasim rp-check --rp pyhanko` (pyHanko "
    "signing a PDF through OpenSC's PKCS#11 module, then validating it against the test roots "
    "with hard-fail CRLs) did in each scenario, with OpenSC 0.23 and pyHanko 0.38 on Debian "
    "bookworm. These are their verdicts, not ours to fix; the CI test "
    "(tests/interop/test_rp_harness.py) re-runs both and fails when a verdict changes. "
    "Regenerate after a deliberate change with `python -m conformance.rp.differential "
    "REPORT_DIR... > conformance/rp/THIRD_PARTY.md`. `-`: the scenario is not for a flow this "
    "software offers (NOT APPLICABLE). The evidence oracle (an accepted outcome needs the "
    "card's VERIFY and signature in that step) changed no verdict here: pkcs11-tool is given "
    "`{challenge_file}` / `{data_file}` and the card signed a SHA-256 DigestInfo of them; "
    "pyHanko signs the CMS signed attributes of `{pdf}`, so what it signed is not held to a "
    "given value (a note in its transcripts)."
)


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    dirs = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not dirs:
        print("usage: python -m conformance.rp.differential REPORT_DIR...", file=sys.stderr)
        return 2
    runs = {}
    for directory in dirs:
        header, results = read_jsonl(directory / "report.jsonl")
        runs[str(header["targets"][0]["id"])] = results
    print(verdict_table(runs, title=THIRD_PARTY_TITLE, intro=THIRD_PARTY_INTRO), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
