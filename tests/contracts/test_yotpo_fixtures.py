"""The contract fixtures themselves: sourced, self-consistent, and covering every Yotpo call
and webhook the connector makes or receives."""

from __future__ import annotations

import re

import pytest

from service.webhooks import CANCELLATION_REQUEST, WRITEBACK_TOPICS
from shared.yotpo import YotpoPaths
from tests.contracts.yotpo_fixtures import (
    all_names,
    endpoint_names,
    fixture,
    same_kind,
    webhook_names,
)

DOC_SITES = (
    "https://loyaltyapi.yotpo.com/reference/",
    "https://develop.yotpo.com/reference/",
    "https://support.yotpo.com/",
)
# Paths the client offers without a caller yet (none: every path has its contract).
NOT_YET_CALLED: set[str] = set()


def _normal(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("name", all_names())
def test_every_fixture_names_the_documentation_page_it_comes_from(name):
    f = fixture(name)
    assert f["doc"].startswith(DOC_SITES), f["doc"]
    assert f["kind"] in ("endpoint", "webhook")


@pytest.mark.parametrize("name", endpoint_names())
def test_endpoint_requests_use_documented_fields_and_carry_the_required_ones(name):
    f = fixture(name)
    request = f["request"]
    sent = set(request["body"] or {}) | set(request["query"])
    assert sent <= set(request["documented"]), sent - set(request["documented"])
    unless = request.get("required_unless", {})
    for field in request["required"]:
        assert field in sent or (request["body"] or {}).get(unless.get(field)), field


@pytest.mark.parametrize("name", endpoint_names())
def test_endpoint_answers_use_documented_fields_only(name):
    answer = fixture(name)["response"]
    example = answer["example"]
    if isinstance(example, list):
        assert example, "give at least one item"
        for item in example:
            assert set(item) <= set(answer["item_documented"])
            assert set(answer["item_required"]) <= set(item)
            assert not set(answer.get("item_forbidden", ())) & set(item)
            assert same_kind(example[0], item, frozenset(answer.get("loose", ()))) == []
    else:
        assert set(example) <= set(answer["documented"]) or not example
        assert set(answer["required"]) <= set(example)
        assert not set(answer.get("forbidden", ())) & set(example)
        for key, documented in answer.get("nested_documented", {}).items():
            assert set(example[key]) <= set(documented)


def test_every_path_the_client_calls_has_a_contract():
    covered = {_normal(fixture(n)["path"]) for n in endpoint_names()}
    paths = {
        value for key, value in vars(YotpoPaths).items() if key.isupper() and isinstance(value, str)
    }
    missing = {p for p in paths - NOT_YET_CALLED if _normal(p) not in covered}
    assert missing == set()


def test_every_webhook_the_receiver_acts_on_has_a_contract():
    topics = {fixture(n)["topic"] for n in webhook_names()}
    assert {CANCELLATION_REQUEST, *WRITEBACK_TOPICS} <= topics


@pytest.mark.parametrize("name", webhook_names())
def test_webhook_payloads_use_documented_fields(name):
    f = fixture(name)
    payload = f["payload"]
    assert payload["topic"] == f["topic"]
    assert set(payload) <= set(f["documented"])
    assert set(payload["customer"]) <= set(f["customer_documented"])
    assert "id" not in payload["customer"]  # webhook customers carry third_party_id
    for key in f.get("tier_fields", ()):
        assert isinstance(payload[key], dict) and set(payload[key]) <= set(f["tier_documented"])
