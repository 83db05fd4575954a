"""The one write-back (`shared.customers.writeback.CustomerWriteback`) given a provider that is
not Yotpo, against the running commercetools and Voyado stand-ins over real HTTP, with the real
Voyado adapter built by its registry factory (ADR 0097).

`plan_writeback` reads a `None` in its member state as "this field must be absent". A provider
without tiers (Voyado documents no tier API, ADR 0085) must therefore leave the tier fields
and the referral code the customer shows alone, while a provider with tiers that reports no
tier removes it, as the Yotpo path does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox.commercetools.app import create_app as create_ct_app
from sandbox.commercetools.state import StandInConfig, StandInState
from sandbox.serving import ServerThread
from sandbox.voyado import SandboxConfig, TenantConfig, VoyadoServer
from sandbox.voyado.testing import receipt
from shared.commercetools import CommercetoolsClient
from shared.customers.provider_writeback import field_state
from shared.customers.writeback import OWN_CUSTOMER_TYPE_KEY, CustomerWriteback
from shared.domain.customers.writeback_diff import (
    GroupPolicy,
    TypeTarget,
    plan_writeback,
)
from shared.domain.customers.writeback_diff import (
    MemberState as FieldState,
)
from shared.domain.loyalty_fields import CUSTOMER_FIELD_DEFINITIONS, CustomerFields
from shared.domain.providers.port import Capabilities
from shared.install import ensure_type_fields
from shared.providers.port import LoyaltyProvider, MemberState
from shared.providers.registry import ProviderContext, factory
from shared.providers.voyado import VoyadoProvider

PROJECT = "voyado-writeback"
KEY = "writeback-voyado-key"
SECRET = "whsec_" + "dm95YWRvLXdyaXRlYmFjay10ZXN0LXNlY3JldC0wMQ=="
STORE = "ecom-1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- stand-ins (also used by tests/webhooks/test_voyado_webhooks.py) ----------------------------
@dataclass
class Commercetools:
    state: StandInState
    server: ServerThread

    @property
    def client(self) -> CommercetoolsClient:
        return CommercetoolsClient(
            project_key=PROJECT,
            client_id="test",
            client_secret="test-secret",
            scope=f"manage_project:{PROJECT}",
            api_url=self.server.url,
            auth_url=self.server.url,
        )

    @property
    def env(self) -> dict[str, str]:
        return {
            "CTP_PROJECT_KEY": PROJECT,
            "CTP_CLIENT_ID": "test",
            "CTP_CLIENT_SECRET": "test-secret",
            "CTP_SCOPE": f"manage_project:{PROJECT}",
            "CTP_REGION": "europe-west1.gcp",
            "CTP_API_URL": self.server.url,
            "CTP_AUTH_URL": self.server.url,
        }

    def install(self) -> None:
        """The connector's customer type, as `job.install post-deploy` creates it."""
        ensure_type_fields(
            self.client,
            key=OWN_CUSTOMER_TYPE_KEY,
            name="Loyalty customer",
            resource_type_ids=["customer"],
            definitions=CUSTOMER_FIELD_DEFINITIONS,
        )

    def customer(self, email: str, **draft: Any) -> dict[str, Any]:
        made = self.client.create("customers", {"email": email, "password": "pw-1234", **draft})
        return made["customer"]

    def read(self, customer_id: str) -> dict[str, Any]:
        return self.client.get_by_id("customers", customer_id)

    def fields(self, customer_id: str) -> dict[str, Any]:
        return dict(((self.read(customer_id).get("custom") or {}).get("fields")) or {})

    def close(self) -> None:
        self.server.stop()
        self.state.close()


def start_commercetools() -> Commercetools:
    state = StandInState(StandInConfig(project_key=PROJECT))
    return Commercetools(state, ServerThread(create_ct_app(state)).start())


def tenant(name: str = "shop", key: str = KEY, secret: str = SECRET, **extra: Any) -> TenantConfig:
    # Receipts apply when the test runs the batch (`VoyadoServer.process`); Voyado applies
    # them "at a preset interval" (https://developer.voyado.com/en/receipts/introduction-to-receipts.html).
    return TenantConfig(
        name=name,
        api_keys=[key],
        stores=[STORE],
        batch_interval_seconds=None,
        webhook_secret=secret,
        **extra,
    )


def voyado_account(base_url: str, key: str = KEY, secret: str = SECRET, **extra: Any) -> dict:
    """A `LOYALTY_PROVIDERS` entry (the adapter's `VoyadoAccount`)."""
    return {
        "provider": "voyado",
        "baseUrl": base_url,
        "apiKey": key,
        "storeExternalId": STORE,
        "webhookSecret": secret,
        **extra,
    }


def build_provider(entry: Mapping[str, Any], account_key: str = "default") -> VoyadoProvider:
    made = factory("voyado")
    account = made.account({k: v for k, v in entry.items() if k != "provider"})
    built = made.build(
        account_key, account, ProviderContext(rate_share=lambda r: r, session=lambda _: None)
    )
    assert isinstance(built, VoyadoProvider)
    return built


def earn(
    voyado: VoyadoServer, contact_id: str, receipt_id: str, amount: str, *, key: str = KEY
) -> None:
    """A purchase receipt for the contact, applied by the batch (1 point per SEK by default)."""
    body = receipt(contact_id, receipt_id, [("sku-1", 1, amount)], store=STORE)
    answer = requests.post(
        f"{voyado.url}/api/v3/receipts", json=_plain(body), headers=voyado.headers(key), timeout=5
    )
    assert answer.status_code in (200, 202), answer.text
    name = next(t.name for t in voyado.config.tenants if key in t.api_keys)
    assert voyado.process(name) >= 1


def _plain(value: Any) -> Any:
    """Decimals as JSON numbers (the receipt builder keeps Decimal amounts)."""
    import json

    from sandbox.voyado.webhooks import encode

    return json.loads(encode(value))


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def ct() -> Iterator[Commercetools]:
    started = start_commercetools()
    try:
        started.install()
        yield started
    finally:
        started.close()


@pytest.fixture
def voyado() -> Iterator[VoyadoServer]:
    with VoyadoServer(SandboxConfig(tenants=[tenant()])) as server:
        yield server


@pytest.fixture
def provider(voyado: VoyadoServer) -> VoyadoProvider:
    return build_provider(voyado_account(voyado.url))


@pytest.fixture
def writeback(ct: Commercetools) -> CustomerWriteback:
    return CustomerWriteback(ct.client, type_key=OWN_CUSTOMER_TYPE_KEY, now=lambda: NOW)


# --- the pure plan: what None means ------------------------------------------------------------
def test_the_plan_reads_a_missing_tier_as_remove_the_tier() -> None:
    """Why the write-back must not hand a tier-less provider's None to the plan."""
    target = TypeTarget(type_id="type-1", type_key=OWN_CUSTOMER_TYPE_KEY)
    customer = {
        "id": "c1",
        "version": 3,
        "custom": {
            "type": {"typeId": "type", "id": "type-1"},
            "fields": {CustomerFields.POINTS_BALANCE: 10, CustomerFields.VIP_TIER: "Gold"},
        },
    }
    plan = plan_writeback(customer, FieldState(20, None, None, None), target, GroupPolicy(), NOW)
    assert {"action": "setCustomField", "name": CustomerFields.VIP_TIER} in plan.actions


# --- against the stand-ins ---------------------------------------------------------------------
def test_the_balance_is_written_onto_a_customer_without_custom_fields(
    ct: Commercetools, voyado: VoyadoServer, provider: VoyadoProvider, writeback: CustomerWriteback
) -> None:
    customer = ct.customer("nils@example.com")
    contact = voyado.seed_contact(email="nils@example.com")
    earn(voyado, contact["id"], "r-1", "120.00")

    result = writeback.sync(customer["id"], provider)

    assert result.outcome == "updated" and result.changed == (CustomerFields.POINTS_BALANCE,)
    fields = ct.fields(customer["id"])
    assert fields[CustomerFields.POINTS_BALANCE] == 120
    assert CustomerFields.VIP_TIER not in fields and CustomerFields.SYNCED_AT in fields


def test_the_same_balance_again_writes_nothing(
    ct: Commercetools, voyado: VoyadoServer, provider: VoyadoProvider, writeback: CustomerWriteback
) -> None:
    customer = ct.customer("nils@example.com")
    contact = voyado.seed_contact(email="nils@example.com")
    earn(voyado, contact["id"], "r-1", "80.00")
    assert writeback.sync(customer["id"], provider).outcome == "updated"
    version = ct.read(customer["id"])["version"]

    again = writeback.sync(customer["id"], provider)

    assert again.outcome == "unchanged" and not again.wrote
    assert ct.read(customer["id"])["version"] == version


def test_voyado_leaves_the_tier_and_referral_fields_alone(
    ct: Commercetools, voyado: VoyadoServer, provider: VoyadoProvider, writeback: CustomerWriteback
) -> None:
    """Voyado has no tiers (capabilities.tiers false): the customer's tier, its end and its
    referral code stay as they are, only the balance moves."""
    customer = ct.customer("nils@example.com")
    type_id = writeback.target().type_id
    shown = {
        CustomerFields.POINTS_BALANCE: 5,
        CustomerFields.VIP_TIER: "Gold",
        CustomerFields.TIER_ENDS_AT: "2027-01-31T10:00:00.000Z",
        CustomerFields.REFERRAL_CODE: "NILS-10",
    }
    ct.client.update(
        "customers",
        customer["id"],
        customer["version"],
        [{"action": "setCustomType", "type": {"typeId": "type", "id": type_id}, "fields": shown}],
    )
    contact = voyado.seed_contact(email="nils@example.com")
    earn(voyado, contact["id"], "r-1", "42.00")
    assert not provider.capabilities.tiers

    result = writeback.sync(customer["id"], provider)

    assert result.changed == (CustomerFields.POINTS_BALANCE,)
    fields = ct.fields(customer["id"])
    assert fields[CustomerFields.POINTS_BALANCE] == 42
    assert fields[CustomerFields.VIP_TIER] == "Gold"
    assert fields[CustomerFields.TIER_ENDS_AT].startswith("2027-01-31T10:00:00")
    assert fields[CustomerFields.REFERRAL_CODE] == "NILS-10"


def test_a_customer_voyado_does_not_know_is_not_a_member(
    ct: Commercetools, provider: VoyadoProvider, writeback: CustomerWriteback
) -> None:
    customer = ct.customer("stranger@example.com")
    result = writeback.sync(customer["id"], provider)
    assert result.outcome == "not_a_member"
    assert ct.read(customer["id"])["version"] == customer["version"]


def test_a_lost_race_reads_the_customer_again_and_keeps_the_other_write(
    ct: Commercetools, voyado: VoyadoServer, provider: VoyadoProvider, writeback: CustomerWriteback
) -> None:
    """Someone writes the customer between our read and our update: commercetools answers 409
    ConcurrentModification, the write-back reads it again and writes on the new version."""
    customer = ct.customer("nils@example.com")
    contact = voyado.seed_contact(email="nils@example.com")
    earn(voyado, contact["id"], "r-1", "64.00")
    racing = _RacingProvider(provider, ct, customer["id"])

    result = writeback.sync_customer(customer, racing)

    assert result.outcome == "updated" and racing.calls == 2
    stored = ct.read(customer["id"])
    assert stored["firstName"] == "Raced"
    assert stored["custom"]["fields"][CustomerFields.POINTS_BALANCE] == 64


def test_a_provider_with_tiers_that_reports_none_removes_the_tier(
    ct: Commercetools, writeback: CustomerWriteback
) -> None:
    """Provider-neutral: with `tiers` declared, None is the provider saying "no tier"."""
    customer = ct.customer("ada@example.com")
    type_id = writeback.target().type_id
    ct.client.update(
        "customers",
        customer["id"],
        customer["version"],
        [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "id": type_id},
                "fields": {CustomerFields.POINTS_BALANCE: 5, CustomerFields.VIP_TIER: "Gold"},
            }
        ],
    )
    tiered = _TieredProvider(MemberState(points_balance=7, tier=None))

    result = writeback.sync(customer["id"], tiered)

    assert set(result.changed) == {CustomerFields.POINTS_BALANCE, CustomerFields.VIP_TIER}
    fields = ct.fields(customer["id"])
    assert fields[CustomerFields.POINTS_BALANCE] == 7 and CustomerFields.VIP_TIER not in fields


def test_a_balance_the_provider_does_not_give_is_kept() -> None:
    customer = {"custom": {"fields": {CustomerFields.POINTS_BALANCE: 30.0}}}
    wanted = field_state(customer, MemberState(points_balance=None), _TieredProvider(None))
    assert wanted.points_balance == 30


# --- port-level helpers --------------------------------------------------------------------------
class _RacingProvider:
    """The real provider; on the first look, another writer changes the customer."""

    def __init__(self, inner: VoyadoProvider, ct: Commercetools, customer_id: str) -> None:
        self._inner = inner
        self._ct = ct
        self._customer_id = customer_id
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def member_state(self, **keys: Any) -> MemberState | None:
        self.calls += 1
        if self.calls == 1:
            current = self._ct.read(self._customer_id)
            self._ct.client.update(
                "customers",
                self._customer_id,
                current["version"],
                [{"action": "setFirstName", "firstName": "Raced"}],
            )
        return self._inner.member_state(**keys)


class _TieredProvider:
    """A provider that declares tiers (as Yotpo does) and answers a fixed state."""

    name = "tiered"
    account_key = "default"
    capabilities = Capabilities(provider="tiered", dedup={}, tiers=True, referrals=True)

    def __init__(self, state: MemberState | None) -> None:
        self._state = state

    def member_state(self, **_keys: Any) -> MemberState | None:
        return self._state

    def bounded(self, _budget: float, **_kw: Any) -> LoyaltyProvider:
        return self  # type: ignore[return-value]
