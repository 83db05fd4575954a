"""connect.yaml against the Connect specification parser the commercetools CLI uses
(@commercetools-connect/specification, its zod schema)."""

from __future__ import annotations

from pathlib import Path

from tests.oracle.sdk import ROOT, connect_spec_errors


def test_connect_yaml_is_a_valid_connect_specification():
    assert connect_spec_errors(ROOT / "connect.yaml") is None


def test_the_validator_refuses_what_connect_refuses(tmp_path: Path):
    # The check can fail: an unknown application type and an undeclared key are refused.
    text = (ROOT / "connect.yaml").read_text()
    broken = tmp_path / "connect.yaml"
    broken.write_text(text.replace("applicationType: service", "applicationType: servce", 1))
    assert "applicationType" in (connect_spec_errors(broken) or "")
    broken.write_text(text + "\nnotAConnectKey: 1\n")
    assert connect_spec_errors(broken) is not None
