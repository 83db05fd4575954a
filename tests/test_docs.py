"""The docs point only at things that exist: every ADR is in the index, every repository path
named in the architecture page and CONTRIBUTING exists, and no ADR cites a file outside the repo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADR = ROOT / "docs" / "adr"
PAGES = [ROOT / "docs" / "architecture.md", ROOT / "CONTRIBUTING.md"]
TOP = ("shared/", "service/", "event/", "job/", "sandbox/", "tests/", "bench/", "tools/",
       "scripts/", "deploy/", "docs/")  # fmt: skip
PATH = re.compile(r"`([A-Za-z0-9_./-]+)`")
# The project's review files and machine paths live outside the repository.
OUTSIDE = re.compile(
    r"(?i)review[- ]20|the review\b|vs-docs\.md|vs-anchor|walkthrough|providers-research"
    r"|provider research|/work/"
)


def test_every_adr_is_in_the_index_and_every_link_resolves() -> None:
    index = (ADR / "README.md").read_text()
    linked = set(re.findall(r"\]\(([^)#]+\.md)\)", index))
    records = {p.name for p in ADR.glob("[0-9][0-9][0-9][0-9]-*.md")}
    assert records - linked == set(), "ADRs missing from docs/adr/README.md"
    assert {name for name in linked if not (ADR / name).exists()} == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    text = page.read_text()
    names = {m for m in PATH.findall(text) if m.startswith(TOP) and "NNNN" not in m}
    base = page.parent
    missing = sorted(n for n in names if not (ROOT / n).exists() and not (base / n).exists())
    assert missing == []


@pytest.mark.parametrize("record", sorted(ADR.glob("[0-9]*.md")), ids=lambda p: p.name)
def test_no_adr_cites_a_file_outside_the_repository(record: Path) -> None:
    text = record.read_text()
    assert not OUTSIDE.search(text)
