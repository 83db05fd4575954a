"""The write-back names the member as orders do (`MEMBER_ID_SOURCE`, docs/adr/0010).

Against both stand-ins. A customer migrated with a legacy member id (`externalId` or a custom
field) gets its balance from the member under that id, in the nightly job and from Yotpo's
webhooks (whose `customer.third_party_id` is the member id); with the default source the
same customer is not a member and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest

from job.clients import build_job_clients
from job.nightly import NightlyJob
from service.cancellations import CancelledCodes
from service.webhooks import YotpoWebhooks
from shared.customers.writeback import CustomerWriteback
from shared.domain.customers.member_identity import MemberIdentity
from shared.domain.loyalty_fields import CustomerFields as F
from shared.errors import PermanentError
from shared.runtime import build_runtime
from tests.integration.world import World
from tests.writeback.legacy import (
    adjust,
    balance,
    customer,
    install,
    job_settings,
    looked_up,
    member,
)

LEGACY_ID = "legacy-0042"
OLD_EMAIL = "ada.lovelace@old-shop.example"  # the old platform knew Ada under another address
EXTERNAL = MemberIdentity(source="externalId")


def writeback(world: World, identity: MemberIdentity | None = None) -> CustomerWriteback:
    settings = job_settings(world)
    return CustomerWriteback(
        world.ct,
        build_runtime(settings).provider_for_store,
        type_key=settings.customer_type_key,
        identity=identity,
    )


def webhooks(world: World, identity: MemberIdentity | None = None) -> YotpoWebhooks:
    return YotpoWebhooks(
        CancelledCodes(world.ct), writeback(world, identity), commercetools=world.ct
    )


def points_changed(member_id: str | None, email: str | None = None) -> dict[str, Any]:
    """The parts of Yotpo's points-changed webhook the receiver reads
    (https://loyaltyapi.yotpo.com/reference/points-changed)."""
    who: dict[str, Any] = {"email": email}
    if member_id is not None:
        who["third_party_id"] = member_id
    return {"topic": "swell/points/changed", "email": email, "customer": who}


# --- the one path: CustomerWriteback -----------------------------------------------------------
def test_the_write_back_reads_the_legacy_member(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    seq = len(world.yotpo.requests_since(0))

    result = writeback(world, EXTERNAL).sync(ada["id"])
    assert result.outcome == "updated" and F.POINTS_BALANCE in result.changed
    assert balance(world, ada["id"]) == 800
    assert looked_up(world, seq) == [LEGACY_ID]  # the legacy id, never the commercetools id


def test_with_the_default_source_the_legacy_member_is_not_found(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    version = world.ct.get_by_id("customers", ada["id"])["version"]
    assert writeback(world).sync(ada["id"]).outcome == "not_a_member"
    assert world.ct.get_by_id("customers", ada["id"])["version"] == version


def test_a_customer_without_an_external_id_is_its_own_member(world: World) -> None:
    install(world)
    new = customer(world, "new@example.com")  # joined after the migration
    member(world, new["id"], "new@example.com", 40)
    assert writeback(world, EXTERNAL).sync(new["id"]).outcome == "updated"
    assert balance(world, new["id"]) == 40


# --- the nightly job ---------------------------------------------------------------------------
def test_the_nightly_run_writes_the_legacy_balance_back(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)

    default = job_settings(world)
    summary = NightlyJob(default, build_job_clients(default)).run()
    assert summary.outcome == "complete" and summary.not_members == 1
    assert balance(world, ada["id"]) is None

    migrated = job_settings(world, MEMBER_ID_SOURCE="externalId")
    summary = NightlyJob(migrated, build_job_clients(migrated)).run()
    assert summary.outcome == "complete", summary
    assert (summary.changed, summary.not_members, summary.failed) == (1, 0, 0)
    assert balance(world, ada["id"]) == 800


# --- webhooks: from a member id to the customer ------------------------------------------------
def test_a_webhook_for_a_legacy_member_finds_its_customer(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    receiver = webhooks(world, EXTERNAL)

    assert receiver.handle(points_changed(LEGACY_ID, OLD_EMAIL)) == "updated"
    assert balance(world, ada["id"]) == 800
    adjust(world, LEGACY_ID, -300)
    assert receiver.handle(points_changed(LEGACY_ID, OLD_EMAIL)) == "updated"
    assert balance(world, ada["id"]) == 500
    assert receiver.handle(points_changed(LEGACY_ID, OLD_EMAIL)) == "unchanged"


def test_with_the_default_source_a_legacy_webhook_changes_nothing(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    assert webhooks(world).handle(points_changed(LEGACY_ID, OLD_EMAIL)) == "customer_gone"
    assert balance(world, ada["id"]) is None


def test_a_member_under_the_commercetools_id_is_found_by_it(world: World) -> None:
    install(world)
    new = customer(world, "new@example.com")
    member(world, new["id"], "new@example.com", 60)
    assert webhooks(world, EXTERNAL).handle(points_changed(new["id"])) == "updated"
    assert balance(world, new["id"]) == 60


def test_an_id_is_not_the_member_of_a_customer_with_another_external_id(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    wb = writeback(world, EXTERNAL)
    assert wb.customer_of_member(LEGACY_ID)["id"] == ada["id"]  # type: ignore[index]
    # Ada's member is the legacy one: her commercetools id names no member of hers.
    assert wb.customer_of_member(ada["id"]) is None
    assert webhooks(world, EXTERNAL).handle(points_changed(ada["id"])) == "unknown_customer"
    assert balance(world, ada["id"]) is None


def test_an_unknown_member_id_falls_back_to_one_customer_by_email(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, "ada@example.com", 800)
    receiver = webhooks(world, EXTERNAL)
    # A member id no customer holds (the import missed it), but Ada's own email.
    assert receiver.handle(points_changed("legacy-9999", "ADA@example.com")) == "updated"
    assert balance(world, ada["id"]) == 800  # read under Ada's own member id
    assert receiver.handle(points_changed("legacy-9999", "ghost@example.com")) == (
        "unknown_customer"
    )


def test_two_customers_with_one_external_id_name_nobody(world: World) -> None:
    install(world)
    first = customer(world, "one@example.com", externalId=LEGACY_ID)
    second = customer(world, "two@example.com", externalId=LEGACY_ID)
    member(world, LEGACY_ID, OLD_EMAIL, 800)
    assert writeback(world, EXTERNAL).customer_of_member(LEGACY_ID) is None
    assert webhooks(world, EXTERNAL).handle(points_changed(LEGACY_ID, OLD_EMAIL)) == (
        "unknown_customer"
    )
    assert balance(world, first["id"]) is None and balance(world, second["id"]) is None


@pytest.mark.parametrize(
    "member_id",
    [
        f'{LEGACY_ID}" or id is defined or externalId = "x',  # closes no literal
        "  ",
        "x" * 257,  # longer than any member id member_identity accepts
    ],
)
def test_a_member_id_from_the_payload_cannot_widen_the_query(world: World, member_id) -> None:
    install(world)
    customer(world, "ada@example.com", externalId=LEGACY_ID)
    assert writeback(world, EXTERNAL).customer_of_member(member_id) is None
    assert webhooks(world, EXTERNAL).handle(points_changed(member_id)) == "unknown_customer"


def test_the_member_id_custom_field(world: World) -> None:
    """`MEMBER_ID_SOURCE=customField`: the merchant's customer type holds the legacy id."""
    ct = world.ct
    ct.create(
        "types",
        {
            "key": "merchant-customer",
            "name": {"en": "Merchant"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {
                    "name": "legacyId",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "Legacy id"},
                }
            ],
        },
    )
    install(world, CUSTOMER_CUSTOM_TYPE_KEY="merchant-customer")
    ada = customer(world, "ada@example.com")
    ct.update(
        "customers",
        ada["id"],
        ada["version"],
        [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "key": "merchant-customer"},
                "fields": {"legacyId": LEGACY_ID},
            }
        ],
    )
    member(world, LEGACY_ID, OLD_EMAIL, 350)
    identity = MemberIdentity(source="customField", custom_field="legacyId")
    settings = job_settings(world, CUSTOMER_CUSTOM_TYPE_KEY="merchant-customer")
    wb = CustomerWriteback(
        ct,
        build_runtime(settings).provider_for_store,
        type_key=settings.customer_type_key,
        identity=identity,
    )
    receiver = YotpoWebhooks(CancelledCodes(ct), wb, commercetools=ct)
    assert receiver.handle(points_changed(LEGACY_ID, OLD_EMAIL)) == "updated"
    fields = ct.get_by_id("customers", ada["id"])["custom"]["fields"]
    assert fields[F.POINTS_BALANCE] == 350 and fields["legacyId"] == LEGACY_ID


def test_a_member_id_field_that_is_no_field_name_is_a_configuration_error(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com")
    member(world, ada["id"], "ada@example.com", 5)
    bad = MemberIdentity(source="customField", custom_field="legacy id) or (x")
    with pytest.raises(PermanentError, match="MEMBER_ID_FIELD"):
        writeback(world, bad).customer_of_member(LEGACY_ID)
    # The webhook is acknowledged as failed (retrying cannot fix configuration).
    assert webhooks(world, bad).handle(points_changed(LEGACY_ID)) == "failed"
    assert balance(world, ada["id"]) is None
