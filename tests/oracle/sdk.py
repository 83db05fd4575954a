"""commercetools' own TypeScript types as a test oracle: typed literals checked by `tsc`.

Each payload becomes `const v<n>: <SDK type> = <JSON>;` in one generated `.ts` file that
imports from `tools/ct-types/sdk-next.ts` (the platform SDK plus the allowlist of fields newer
than its release). JSON object literals get TypeScript's excess-property check, so a missing,
misspelt or invented field is a compile error naming the line, which maps back to the payload.
The tools are installed by `npm ci` from the committed package-lock.json into
`tools/ct-types/node_modules` (ignored by git); without node and npm this fails, never skips.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "ct-types"
NODE_MODULES = TOOLS / "node_modules"
GENERATED = TOOLS / ".generated"
_ERROR = re.compile(r"^(?P<file>[^(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<text>.*)$")


@dataclass(frozen=True)
class Typed:
    """One payload and the SDK type it must satisfy; `source` says where it came from."""

    type_name: str
    value: Any
    source: str


def _stamp() -> Path:
    digest = hashlib.sha256((TOOLS / "package-lock.json").read_bytes()).hexdigest()[:16]
    return NODE_MODULES / f".installed-{digest}"


def ensure_tools() -> None:
    """`npm ci` once per package-lock.json (the same stamp `make test` writes)."""
    if _stamp().exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AssertionError(
            "The SDK type oracle needs Node.js and npm (apt-get install nodejs npm); "
            "`make test` installs the rest with npm ci."
        )
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs share one install
        if _stamp().exists():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TOOLS,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise AssertionError(f"npm ci in {TOOLS} failed:\n{done.stdout}\n{done.stderr}")
        for old in NODE_MODULES.glob(".installed-*"):
            old.unlink()
        _stamp().touch()


def _identifier(type_name: str) -> str:
    base = type_name.removesuffix("[]")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", base):
        raise ValueError(f"not an SDK type name: {type_name!r}")
    return base


def render(entries: list[Typed]) -> tuple[str, dict[int, Typed]]:
    """The .ts source and which payload each of its lines belongs to."""
    names = sorted({_identifier(e.type_name) for e in entries})
    lines = [f"import type {{ {', '.join(names)} }} from '../sdk-next.js';", ""]
    owner: dict[int, Typed] = {}
    for number, entry in enumerate(entries):
        lines.append(f"// {entry.source.replace(chr(10), ' ')}")
        body = json.dumps(entry.value, indent=2, sort_keys=False).splitlines()
        first = len(lines) + 1
        body[0] = f"export const v{number}: {entry.type_name} = {body[0]}"
        body[-1] += ";"
        lines += body
        for line in range(first, first + len(body)):
            owner[line] = entry
    return "\n".join(lines) + "\n", owner


def typecheck(entries: list[Typed]) -> list[str]:
    """Every tsc error, each with the payload it is in; empty when all payloads conform."""
    if not entries:
        raise AssertionError("nothing to type-check: the collection found no payload")
    ensure_tools()
    source, owner = render(entries)
    GENERATED.mkdir(exist_ok=True)
    name = f"oracle-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ts_file = GENERATED / f"{name}.ts"
    config = GENERATED / f"{name}.tsconfig.json"
    ts_file.write_text(source)
    config.write_text(json.dumps({"extends": "../tsconfig.json", "files": [ts_file.name]}))
    try:
        done = subprocess.run(
            ["node", str(NODE_MODULES / "typescript" / "bin" / "tsc"), "-p", str(config)],
            cwd=TOOLS,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        keep = os.environ.get("CT_ORACLE_KEEP")  # set to look at the generated file
        if not keep:
            ts_file.unlink(missing_ok=True)
            config.unlink(missing_ok=True)
    output = (done.stdout + done.stderr).strip()
    if done.returncode == 0:
        return []
    errors = []
    for raw in output.splitlines():
        match = _ERROR.match(raw.strip())
        if match is None:
            continue
        entry = owner.get(int(match["line"]))
        where = f"{entry.type_name} from {entry.source}" if entry else f"line {match['line']}"
        errors.append(f"{where}: {match['text']}")
    return errors or [output]


def connect_spec_errors(path: Path) -> str | None:
    """The Connect specification parser's complaint about a connect.yaml, None if valid."""
    ensure_tools()
    done = subprocess.run(
        ["node", str(TOOLS / "validate-connect.mjs"), str(path)],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()
