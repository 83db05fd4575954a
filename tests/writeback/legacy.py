"""Scenes of a merchant that migrated with legacy Yotpo member ids (docs/adr/0010).

The commercetools stand-in keeps only the customer draft fields it models and has no
`setExternalId` action, so the id the migration's import wrote (`externalId`, "an identifier
in an external system", https://docs.commercetools.com/api/projects/customers#customer) is put
straight into its store, as the API would hold it.
"""

from __future__ import annotations

from typing import Any

from job.install import post_deploy
from job.settings import JobSettings
from shared.domain.loyalty_fields import CustomerFields
from shared.settings import load_settings
from tests.integration.world import GUID, World


def job_settings(world: World, **env: str) -> JobSettings:
    # The job runs here without Cloud Scheduler's OIDC token: verification off, explicitly.
    return load_settings(JobSettings, {**world.env, "OIDC_VERIFICATION": "off", **env})


def install(world: World, **env: str) -> None:
    """The customer type (and groups) the job's post-deploy script creates."""
    post_deploy(world.ct, {}, job_settings(world, **env))


def customer(world: World, email: str, **stored: Any) -> dict[str, Any]:
    """A signed-up commercetools customer, with `stored` fields written as an import would."""
    made = world.storefront.sign_up(email, "Ada", "Lovelace")
    if stored:
        current = world.ct_state.store.get("customers", made["id"])
        assert current is not None
        world.ct_state.store.put("customers", {**current, **stored})
    found = world.ct.get_by_id("customers", made["id"])
    for name, value in stored.items():
        assert found[name] == value
    return found


def member(world: World, member_id: str, email: str, points: int = 0) -> None:
    """A Yotpo member under `member_id` (the old platform's id, or the commercetools id)."""
    world.yotpo.upsert_customer(GUID, {"id": member_id, "email": email})
    if points:
        world.yotpo.adjust_points(
            GUID, {"customer_id": member_id, "point_adjustment_amount": points}
        )


def adjust(world: World, member_id: str, points: int) -> None:
    world.yotpo.adjust_points(GUID, {"customer_id": member_id, "point_adjustment_amount": points})


def balance(world: World, customer_id: str) -> Any:
    found = world.ct.get_by_id("customers", customer_id)
    return ((found.get("custom") or {}).get("fields") or {}).get(CustomerFields.POINTS_BALANCE)


def looked_up(world: World, since: int = 0) -> list[str]:
    """Member ids the connector asked Yotpo about (`GET /customers?customer_id=`), in order."""
    return [
        r["query"]["customer_id"]
        for r in world.yotpo.requests_since(since)
        if r["method"] == "GET"
        and r["path"].endswith("/customers")
        and "customer_id" in (r.get("query") or {})
    ]
