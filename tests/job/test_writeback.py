"""The write-back against both stand-ins: fields, type handling, groups, failures."""

from __future__ import annotations

import json
import time

import pytest

from shared.customers.provider_writeback import ProviderWritebackTimeout
from shared.customers.writeback import OWN_CUSTOMER_TYPE_KEY, CustomerWriteback, parse_tier_groups
from shared.domain.loyalty_fields import CustomerFields as F
from shared.errors import PermanentError, TransientError

GROUPS = {"Silver": "vip-silver", "Gold": "vip-gold"}


def writeback(scene, **kwargs) -> CustomerWriteback:
    settings = scene.settings
    return CustomerWriteback(
        scene.clients.commercetools,
        scene.clients.runtime.provider_for_store,
        type_key=kwargs.get("type_key", settings.customer_type_key),
        tier_groups=kwargs.get("tier_groups", settings.tier_groups()),
    )


def test_install_creates_the_type_and_groups_once(scene):
    grouped = scene.with_env(VIP_TIER_GROUPS=json.dumps(GROUPS))
    assert grouped.install() == {
        "type": "created",
        "group:vip-gold": "created",
        "group:vip-silver": "created",
    }
    assert set(grouped.install().values()) == {"unchanged"}
    made = scene.world.ct.get_by_key("types", OWN_CUSTOMER_TYPE_KEY)
    assert made["resourceTypeIds"] == ["customer"]
    assert {d["name"] for d in made["fieldDefinitions"]} >= {F.POINTS_BALANCE, F.SYNCED_AT}


def test_install_extends_the_merchants_customer_type(scene):
    ct = scene.world.ct
    ct.create(
        "types",
        {
            "key": "merchant-customer",
            "name": {"en": "Merchant"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {
                    "name": "shoeSize",
                    "type": {"name": "Number"},
                    "required": False,
                    "label": {"en": "Shoe size"},
                }
            ],
        },
    )
    merchant = scene.with_env(CUSTOMER_CUSTOM_TYPE_KEY="merchant-customer")
    assert merchant.install() == {"type": "updated"}
    names = [d["name"] for d in ct.get_by_key("types", "merchant-customer")["fieldDefinitions"]]
    assert names[0] == "shoeSize" and F.VIP_TIER in names

    # A customer already on the merchant's type keeps its own field next to ours.
    sam = merchant.member("shoes@example.com", 120)
    current = merchant.customer(sam)
    ct.update(
        "customers",
        sam["id"],
        current["version"],
        [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "key": "merchant-customer"},
                "fields": {"shoeSize": 44},
            }
        ],
    )
    assert writeback(merchant).sync(sam["id"]).outcome == "updated"
    fields = merchant.fields(sam)
    assert fields["shoeSize"] == 44 and fields[F.POINTS_BALANCE] == 120


def test_write_back_then_nothing_until_yotpo_changes(scene):
    scene.install()
    sam = scene.member("sam@example.com", 250)
    wb = writeback(scene)
    first = wb.sync(sam["id"])
    assert first.outcome == "updated"
    fields = scene.fields(sam)
    member = scene.yotpo_member(sam)
    assert fields[F.POINTS_BALANCE] == 250
    assert fields[F.VIP_TIER] == member["vip_tier_name"] == "Bronze"
    assert fields[F.REFERRAL_CODE] == member["referral_code"]["code"]
    assert F.TIER_ENDS_AT in fields and F.SYNCED_AT in fields

    version = scene.customer(sam)["version"]
    assert wb.sync(sam["id"]).outcome == "unchanged"
    assert scene.customer(sam)["version"] == version  # no write, no new version, no message

    scene.adjust(sam, 50)
    again = wb.sync(sam["id"])
    assert again.outcome == "updated" and again.changed == (F.POINTS_BALANCE,)
    assert scene.fields(sam)[F.POINTS_BALANCE] == 300
    assert scene.fields(sam)[F.SYNCED_AT] >= fields[F.SYNCED_AT]


def test_a_customer_of_another_type_keeps_it(scene):
    scene.install()
    ct = scene.world.ct
    ct.create(
        "types",
        {"key": "other", "name": {"en": "Other"}, "resourceTypeIds": ["customer"]},
    )
    sam = scene.member("other@example.com", 10)
    current = scene.customer(sam)
    ct.update(
        "customers",
        sam["id"],
        current["version"],
        [{"action": "setCustomType", "type": {"typeId": "type", "key": "other"}}],
    )
    before = scene.customer(sam)
    result = writeback(scene).sync(sam["id"])
    assert result.outcome == "unchanged" and result.skipped == ("foreign_custom_type",)
    assert scene.customer(sam) == before


def test_groups_follow_the_tier_but_only_owned_ones(scene):
    grouped = scene.with_env(VIP_TIER_GROUPS=json.dumps(GROUPS))
    grouped.install()
    ct = scene.world.ct
    gold_id = ct.get_by_key("customer-groups", "vip-gold")["id"]
    wholesale = ct.create("customer-groups", {"key": "wholesale", "groupName": "Wholesale"})
    wb = writeback(grouped)

    vip = grouped.member("vip@example.com", spend_cents=60000)  # Gold in the sandbox program
    trader = grouped.member("trader@example.com", spend_cents=60000)
    current = grouped.customer(trader)
    ct.update(
        "customers",
        trader["id"],
        current["version"],
        [
            {
                "action": "setCustomerGroup",
                "customerGroup": {"typeId": "customer-group", "id": wholesale["id"]},
            }
        ],
    )
    assert wb.sync(vip["id"]).changed[-1] == "customerGroup"
    assert grouped.customer(vip)["customerGroup"]["id"] == gold_id
    wb.sync(trader["id"])
    assert grouped.customer(trader)["customerGroup"]["id"] == wholesale["id"]
    assert grouped.fields(trader)[F.VIP_TIER] == "Gold"  # fields still written

    # Gold lost (the order refunded in full): the owned group goes, the merchant's stays.
    for customer in (vip, trader):
        order = next(
            o
            for o in scene.world.yotpo_orders()
            if o["member_no"] == grouped.yotpo_member(customer)["member_no"]
        )
        scene.world.yotpo.create_refund(
            "sandbox-guid",
            {"order_id": order["order_id"], "total_amount_cents": 60000, "currency": "EUR"},
        )
    assert wb.sync(vip["id"]).outcome == "updated"
    assert "customerGroup" not in grouped.customer(vip)
    assert grouped.fields(vip)[F.VIP_TIER] == "Bronze"
    wb.sync(trader["id"])
    assert grouped.customer(trader)["customerGroup"]["id"] == wholesale["id"]


def test_a_mapped_group_that_does_not_exist_is_a_permanent_error(scene):
    scene.install()
    vip = scene.member("gold@example.com", spend_cents=60000)
    wb = writeback(scene, tier_groups={"Gold": "missing-group"})
    with pytest.raises(PermanentError, match="missing-group"):
        wb.sync(vip["id"])
    assert F.VIP_TIER not in scene.fields(vip)


def test_without_the_type_nothing_is_asked_of_yotpo(scene):
    sam = scene.member("notype@example.com", 10)
    before = scene.yotpo_seq()
    with pytest.raises(PermanentError, match=r"job\.install"):
        writeback(scene).sync(sam["id"])
    assert scene.yotpo_seq() == before


def test_not_a_member_writes_nothing(scene):
    scene.install()
    stranger = scene.world.storefront.sign_up("stranger@example.com", "No", "Member")
    result = writeback(scene).sync(stranger["id"])
    assert result.outcome == "not_a_member"
    assert scene.customer(stranger)["version"] == stranger["version"]
    assert writeback(scene).sync("no-such-customer").outcome == "customer_gone"


def test_yotpo_down_is_transient(scene):
    scene.install()
    sam = scene.member("down@example.com", 10)
    scene.world.yotpo.set_faults({"error_next": 20, "error_status": 503})
    with pytest.raises(TransientError):
        writeback(scene).sync(sam["id"], deadline=None)
    assert F.POINTS_BALANCE not in scene.fields(sam)


@pytest.mark.parametrize(
    "raw",
    ['["Gold"]', '{"Gold": ""}', '{"Gold": "g", "Silver": "g"}', "{nope"],
)
def test_tier_groups_setting_is_checked(raw):
    with pytest.raises(ValueError):
        parse_tier_groups(raw)


def test_yotpo_is_asked_by_the_member_id_alone_with_the_referral_code(scene):
    """Through the provider port, the same request as before it: Fetch Customer Details by
    `customer_id` only (https://loyaltyapi.yotpo.com/reference/fetch-customer-details)."""
    scene.install()
    sam = scene.member("query@example.com", 5)
    seq = scene.yotpo_seq()
    assert writeback(scene).sync(sam["id"]).outcome == "updated"
    asked = [
        (r["method"], r["path"].rsplit("/", 1)[-1], r["query"])
        for r in scene.world.yotpo.requests_since(seq)
    ]
    query = {"customer_id": sam["id"], "with_referral_code": "true", "with_history": "false"}
    assert asked == [("GET", "customers", query)]


def test_a_used_up_budget_asks_yotpo_nothing(scene):
    scene.install()
    sam = scene.member("late@example.com", 5)
    seq = scene.yotpo_seq()
    with pytest.raises(ProviderWritebackTimeout):
        writeback(scene).sync(sam["id"], deadline=time.monotonic() - 1.0)
    assert scene.yotpo_seq() == seq
    assert F.POINTS_BALANCE not in scene.fields(sam)
