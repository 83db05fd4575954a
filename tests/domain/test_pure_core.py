"""The pure core (`shared/domain/`) imports no I/O: no HTTP, web framework, Google library or
client module, so it can be tested with plain data (CONTRIBUTING.md, "Layout")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "shared" / "domain"
# Top-level packages the core may import besides the standard library's pure modules.
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "typing_extensions"}
# Standard-library modules that do I/O or talk to the network.
FORBIDDEN_STDLIB = {
    "socket", "ssl", "http", "urllib", "subprocess", "asyncio", "threading", "multiprocessing",
    "sqlite3", "smtplib", "ftplib", "shutil", "tempfile", "logging",
}  # fmt: skip


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def offending(module: str) -> bool:
    top = module.split(".")[0]
    if module.startswith("shared.domain") or top == "__future__":
        return False
    if top in {"shared", "service", "event", "job", "sandbox", "bench"}:
        return True  # clients, settings, apps: I/O lives there
    if top in FORBIDDEN_STDLIB:
        return True
    if top in sys.stdlib_module_names:
        return False
    return top not in ALLOWED_THIRD_PARTY


@pytest.mark.parametrize(
    "path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN))
)
def test_the_domain_module_imports_no_io(path: Path) -> None:
    bad = [m for m in imported_modules(path) if offending(m)]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_rule_catches_what_it_forbids() -> None:
    for module in ("requests", "flask", "google.cloud.logging", "shared.yotpo", "socket"):
        assert offending(module), module
    for module in ("shared.domain.money", "pydantic", "datetime", "hmac"):
        assert not offending(module), module
