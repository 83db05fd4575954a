"""The client against the contract fixtures: it sends exactly the fixture's request (method,
path, query, body) and hands back the fixture's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from shared.yotpo import RedemptionOption, YotpoClient
from tests.contracts.yotpo_fixtures import endpoint_names, fixture, request_path

API = "https://loyalty.contract.test/api/v2"

Call = Callable[[YotpoClient, dict[str, Any]], Any]


def _body(f: dict[str, Any]) -> dict[str, Any]:
    return f["request"]["body"]


CALLS: dict[str, Call] = {
    "upsert_customer": lambda c, f: c.upsert_customer(_body(f)),
    "get_customer": lambda c, f: c.get_customer(
        customer_id=f["request"]["query"]["customer_id"], with_history=True
    ),
    "create_order": lambda c, f: c.create_order(_body(f)),
    "create_refund": lambda c, f: c.create_refund(_body(f)),
    "redemption_options": lambda c, f: c.redemption_options(
        customer_id=f["request"]["query"]["customer_id"]
    ),
    "redemption_options_offline": lambda c, f: c.redemption_options(is_offline=True),
    "create_redemption": lambda c, f: c.create_redemption(_body(f)),
    "cancel_redemption": lambda c, f: c.cancel_redemption(
        f["path_params"]["point_redemption_id"], reward_text=_body(f)["reward_text"]
    ),
    "vip_tiers": lambda c, f: c.vip_tiers(),
    "adjust_points": lambda c, f: c.adjust_points(_body(f)),
    "set_customer_birthday": lambda c, f: c.set_customer_birthday(_body(f)),
    "redemption_codes": lambda c, f: c.redemption_codes(code=f["request"]["query"]["code"]),
    "upload_redemption_codes": lambda c, f: c.upload_redemption_codes(
        _body(f)["redemption_option_id"], _body(f)["codes"].split(",")
    ),
}


def test_every_endpoint_fixture_has_a_client_call():
    assert set(CALLS) == set(endpoint_names())


@pytest.fixture
def client() -> YotpoClient:
    return YotpoClient(
        guid="contract-guid",
        api_key="contract-key",
        api_url=API,
        rate_limit_per_second=1000,
        sleep=lambda _s: None,
    )


@pytest.mark.parametrize("name", endpoint_names())
def test_the_client_sends_the_fixture_request_and_reads_the_fixture_answer(client, name):
    f = fixture(name)
    answer = f["response"]
    with responses.RequestsMock() as rsps:
        rsps.add(
            f["method"],
            API + request_path(f),
            json=answer["example"],
            status=answer["status"],
        )
        result = CALLS[name](client, f)
        (call,) = rsps.calls

    sent = urlsplit(call.request.url)
    assert call.request.method == f["method"]
    assert sent.path == urlsplit(API).path + request_path(f)
    assert {k: v[0] for k, v in parse_qs(sent.query).items()} == f["request"]["query"]
    body = f["request"]["body"]
    assert (json.loads(call.request.body) if call.request.body else None) == body
    assert result == answer["example"]
    if isinstance(result, list) and name.startswith("redemption_options"):
        assert all(isinstance(o, RedemptionOption) for o in result)


def test_not_found_customer_is_none(client):
    f = fixture("get_customer")
    with responses.RequestsMock() as rsps:
        rsps.get(API + f["path"], status=f["response"]["not_found_status"], json={})
        assert CALLS["get_customer"](client, f) is None


def test_the_variable_option_of_the_fixture_has_a_value_and_the_fixed_one_none():
    options = [RedemptionOption(o) for o in fixture("redemption_options")["response"]["example"]]
    fixed, variable = options
    assert fixed.points_cost == 500 and fixed.variable_value_cents(500) is None
    assert variable.variable_value_cents(250) == 250  # discount_rate_cents 1 per point
