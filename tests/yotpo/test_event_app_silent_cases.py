"""The event app's integration tests, re-run with the Yotpo stand-in playing each answer the
reference leaves open (duplicate order_id, duplicate refund id, orders without IP/UA; see
`sandbox.yotpo.engine.SilentCases`). The connector must be correct under every one of them:
its ledger never sends an order or a refund twice, so no answer to a repeat can matter, and
an order without IP/UA must not depend on Yotpo accepting it.

The tests are the ones of `tests/integration/test_event_app.py`, collected again here with
this module's `world` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.yotpo import SILENT_PROFILES
from tests.integration.test_event_app import *  # noqa: F403 - the tests to run again
from tests.integration.world import GUID, World, start_world


@pytest.fixture(params=sorted(SILENT_PROFILES))
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    started = start_world()
    started.yotpo.put_account(
        {
            "guid": GUID,
            "api_key": "sandbox-api-key",
            "program": {"silent": SILENT_PROFILES[request.param]},
        }
    )
    try:
        yield started
    finally:
        started.close()


def test_the_profile_is_in_force(world: World, request: pytest.FixtureRequest) -> None:
    profile = request.node.callspec.params["world"]
    silent = world.yotpo.state()["accounts"][GUID]["program"]["program"]["silent"]
    assert silent == SILENT_PROFILES[profile]
    bare = {
        "order_id": "SANITY-1",
        "customer_email": "sanity@example.com",
        "total_amount_cents": 100,
        "currency_code": "EUR",
    }
    refused = world.yotpo.create_order  # the engine itself, no connector in between
    if SILENT_PROFILES[profile]["missing_ip_ua"] == "reject":
        with pytest.raises(Exception, match="ip_address"):
            refused(GUID, bare)
    else:
        assert refused(GUID, bare) == {}
