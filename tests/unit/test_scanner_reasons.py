"""The outside scanners' exemptions each carry their reason (`make scan` runs the scanners themselves).

checkov accepts a skip without a comment and bandit a `# nosec` without a word: these tests do not,
so no finding is waved through unexplained."""

from __future__ import annotations

import re
from pathlib import Path

from local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
BANDIT_PATHS = ("layers", "functions", "local", "scripts", "benchmarks")
# `# nosec B101  # why` on the line, or `# bandit B101: why` on the line above when the line is full.
NOSEC = re.compile(r"#\s*nosec\b(?P<ids>[^#]*)(?:#\s*(?P<why>.*))?$")


def test_every_checkov_skip_in_the_template_says_why() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    skips = [
        (name, skip)
        for name, resource in resources.items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]
    assert skips, "template.yaml has no checkov skips: has the Metadata moved?"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip.get("id", "")), (name, skip)
        assert len(skip.get("comment", "").split()) >= 8, f"{name}: skip {skip.get('id')} needs its reason"


def test_every_nosec_names_its_check_and_says_why() -> None:
    unexplained = []
    for folder in BANDIT_PATHS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for number, line in enumerate(lines, start=1):
                found = NOSEC.search(line)
                if not found:
                    continue
                ids = found.group("ids").split()
                above = lines[number - 2].strip() if number > 1 else ""
                why = found.group("why") or (above.split(":", 1)[1] if above.startswith("# bandit B") else "")
                if not ids or not all(re.fullmatch(r"B\d{3}", i) for i in ids) or len(why.split()) < 2:
                    unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unexplained, "each # nosec names its check (B101) and gives its reason:\n" + "\n".join(unexplained)
