"""The job app against both stand-ins (the integration `world`), and helpers to set scenes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from job.clients import JobClients, build_job_clients
from job.install import post_deploy
from job.settings import JobSettings
from shared.settings import load_settings
from tests.integration.world import GUID, World, start_world

_ORDER_NUMBERS = itertools.count(1)


class FakeClock:
    """A monotonic clock tests move by hand (run budgets without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Scene:
    def __init__(self, world: World, **env: str) -> None:
        self.world = world
        # The job runs here without Cloud Scheduler's OIDC token: verification off, explicitly.
        self.env = {"OIDC_VERIFICATION": "off", **world.env, **env}
        self.settings = load_settings(JobSettings, self.env)
        self.clients: JobClients = build_job_clients(self.settings)

    def with_env(self, **env: str) -> Scene:
        return Scene(self.world, **{**self.env, **env})

    def install(self) -> dict[str, str]:
        return post_deploy(self.world.ct, {}, self.settings)

    # --- Yotpo side ------------------------------------------------------------------------
    def member(self, email: str, points: int = 0, *, spend_cents: int = 0) -> dict[str, Any]:
        """A commercetools customer who is a Yotpo member with `points` (and tier by spend)."""
        customer = self.world.storefront.sign_up(email, "Sam", "Shopper")
        self.world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": email})
        if points:
            self.adjust(customer, points)
        if spend_cents:
            self.spend(customer, spend_cents)
        return customer

    def adjust(self, customer: dict[str, Any], points: int) -> None:
        self.world.yotpo.adjust_points(
            GUID, {"customer_id": customer["id"], "point_adjustment_amount": points}
        )

    def spend(self, customer: dict[str, Any], cents: int) -> str:
        """An order straight into Yotpo (moves the tier), not through commercetools."""
        order_id = f"Y-{next(_ORDER_NUMBERS)}"
        self.world.yotpo.create_order(
            GUID,
            {
                "order_id": order_id,
                "customer_id": customer["id"],
                "customer_email": customer["email"],
                "total_amount_cents": cents,
                "currency_code": "EUR",
                "status": "paid",
            },
        )
        return order_id

    def yotpo_member(self, customer: dict[str, Any]) -> dict[str, Any]:
        found = self.world.yotpo_customer(customer["email"])
        assert found is not None
        return found

    def looked_up(self, since: int = 0) -> list[str]:
        """Customer ids the connector asked Yotpo about, in order."""
        return [
            r["query"]["customer_id"]
            for r in self.world.yotpo.requests_since(since)
            if r["method"] == "GET" and r["path"].endswith("/customers")
        ]

    def yotpo_seq(self) -> int:
        return len(self.world.yotpo.requests_since(0))

    # --- commercetools side ----------------------------------------------------------------
    def customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        return self.world.ct.get_by_id("customers", customer["id"])

    def fields(self, customer: dict[str, Any]) -> dict[str, Any]:
        return (self.customer(customer).get("custom") or {}).get("fields") or {}


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def scene(world: World) -> Scene:
    return Scene(world)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
