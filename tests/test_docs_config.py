"""Every configuration variable the service reads is documented (README.md configuration table
or docs/SECURITY.md), and the README's two commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _variables_read() -> set[str]:
    names: set[str] = set()
    for path in list((ROOT / "cds_service").rglob("*.py")) + list((ROOT / "hooks").rglob("*.py")):
        names |= set(re.findall(r'"(GMG_CDS_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    return names


def test_every_variable_is_documented():
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    missing = sorted(n for n in _variables_read() if f"`{n}`" not in docs)
    assert missing == []


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/serve" in readme and "./scripts/test" in readme
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # production's web process: nginx in front of gunicorn (cds_service/web.py), in both
    assert "web: gmg-cds-web" in (ROOT / "Procfile").read_text(encoding="utf-8")
    assert "exec gmg-cds-web" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
