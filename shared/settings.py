"""Settings read from the environment, with Connect's names.

Each app declares exactly the keys it reads as one flat settings class (the connect.yaml test
compares those classes with the file), assembled from the groups below. A missing or malformed
setting stops start-up with one message naming every problem — and never a value, since some
of them are secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.checkout.reward_state import seal_key
from shared.domain.customers.customer_sync import DEFAULT_OPT_IN_FIELD, CustomerSyncConfig
from shared.domain.customers.member_identity import DEFAULT_MEMBER_ID_FIELD, MemberIdentity
from shared.domain.orders.planner import PlannerConfig, StoreLocation

DEFAULT_YOTPO_API_URL = "https://loyalty.yotpo.com/api/v2"
DEFAULT_ACCOUNT = "default"
_REGION = re.compile(r"^[a-z]+(-[a-z]+)*-?[0-9]*\.(gcp|aws|azure)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class SettingsError(Exception):
    """Start-up configuration is unusable; the message lists every problem, never a value."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


class YotpoAccount(BaseModel):
    """One Yotpo Loyalty account (a merchant may run one per market or store)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    guid: str = Field(min_length=1)
    api_key: SecretStr = Field(alias="apiKey")
    api_url: str = Field(default=DEFAULT_YOTPO_API_URL, alias="apiUrl")
    # Empty means "whatever the Yotpo account accepts"; set it when the account is single-currency.
    currencies: frozenset[str] = frozenset()

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("currencies", mode="before")
    @classmethod
    def _currency_codes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [c for c in value.split(",") if c.strip()]
        codes = [str(c).strip().upper() for c in value or ()]
        bad = [c for c in codes if not _CURRENCY.match(c)]
        if bad:
            raise ValueError(f"not ISO 4217 currency codes: {', '.join(bad)}")
        return frozenset(codes)

    def accepts(self, currency: str) -> bool:
        return not self.currencies or currency.upper() in self.currencies


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )


class CommercetoolsSettings(_Base):
    ctp_project_key: str = Field(min_length=1, description="commercetools project key")
    ctp_client_id: str = Field(min_length=1, description="API client id")
    ctp_client_secret: SecretStr = Field(description="API client secret")
    ctp_scope: str = Field(min_length=1, description="API client scopes, space separated")
    ctp_region: str = Field(description="commercetools region, e.g. europe-west1.gcp")
    ctp_api_url: str | None = Field(default=None, description="API URL override")
    ctp_auth_url: str | None = Field(default=None, description="Auth URL override")

    @field_validator("ctp_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("expected a region such as europe-west1.gcp or us-east-2.aws")
        return value

    @field_validator("ctp_api_url", "ctp_auth_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def api_url(self) -> str:
        return self.ctp_api_url or f"https://api.{self.ctp_region}.commercetools.com"

    @property
    def auth_url(self) -> str:
        return self.ctp_auth_url or f"https://auth.{self.ctp_region}.commercetools.com"


class YotpoSettings(_Base):
    yotpo_guid: str | None = Field(default=None, description="Yotpo account GUID (one account)")
    yotpo_api_key: SecretStr | None = Field(default=None, description="Yotpo API key")
    yotpo_api_url: str = Field(default=DEFAULT_YOTPO_API_URL, description="Yotpo API base URL")
    yotpo_currencies: str | None = Field(
        default=None, description="Currencies the single account accepts, comma separated"
    )
    yotpo_accounts: SecretStr | None = Field(
        default=None,
        description=(
            'Several accounts as JSON: {"default": {"guid", "apiKey", "apiUrl"?, '
            '"currencies"?}, "<store key>": {...}}'
        ),
    )
    # Yotpo documents 10 requests per second per account
    # (https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions).
    yotpo_rate_limit_per_second: float = Field(
        default=10.0, gt=0, description="Client-side rate limit per Yotpo account"
    )

    def accounts(self) -> dict[str, YotpoAccount]:
        """Accounts by commercetools store key; `default` serves stores without their own."""
        if self.yotpo_accounts is not None:
            return _parse_accounts(self.yotpo_accounts.get_secret_value())
        if self._yotpo_unused():
            return {}
        assert self.yotpo_guid and self.yotpo_api_key  # guaranteed by validate_yotpo()
        return {
            DEFAULT_ACCOUNT: YotpoAccount(
                guid=self.yotpo_guid,
                api_key=self.yotpo_api_key,
                api_url=self.yotpo_api_url,
                currencies=self.yotpo_currencies or (),
            )
        }

    def _yotpo_unused(self) -> bool:
        """No Yotpo setting at all, and LOYALTY_PROVIDERS serves `default` (ProviderSettings):
        a project that runs another provider everywhere needs no Yotpo account."""
        if self.yotpo_accounts is not None or self.yotpo_guid or self.yotpo_api_key:
            return False
        if not isinstance(self, ProviderSettings) or self.loyalty_providers is None:
            return False
        try:
            return DEFAULT_ACCOUNT in self.provider_accounts()
        except ValueError:
            return False  # provider_problems() reports it

    def yotpo_problems(self) -> list[str]:
        if self._yotpo_unused():
            return []
        single = self.yotpo_guid is not None or self.yotpo_api_key is not None
        if self.yotpo_accounts is not None and single:
            return ["YOTPO_ACCOUNTS: set either YOTPO_ACCOUNTS or YOTPO_GUID/YOTPO_API_KEY"]
        if self.yotpo_accounts is not None:
            try:
                _parse_accounts(self.yotpo_accounts.get_secret_value())
            except ValueError as exc:
                return [f"YOTPO_ACCOUNTS: {exc}"]
            return []
        problems = []
        if not self.yotpo_guid:
            problems.append("YOTPO_GUID: missing (or set YOTPO_ACCOUNTS)")
        if not self.yotpo_api_key or not self.yotpo_api_key.get_secret_value():
            problems.append("YOTPO_API_KEY: missing (or set YOTPO_ACCOUNTS)")
        try:
            YotpoAccount.model_validate(
                {"guid": "x", "apiKey": "x", "currencies": self.yotpo_currencies or ()}
            )
        except ValidationError as exc:
            problems.extend(
                f"YOTPO_CURRENCIES: {_text(e)}" for e in exc.errors(include_input=False)
            )
        return problems


_STORE_ACCOUNTS = "a JSON object mapping store keys (or 'default') to accounts"


def json_object_setting(raw: str, *, shape: str = _STORE_ACCOUNTS) -> dict[str, Any]:
    """A setting holding a non-empty JSON object (YOTPO_ACCOUNTS, LOYALTY_PROVIDERS); a
    ValueError says where the JSON breaks, or that it must be `shape`."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"must be {shape}")
    return data


def located_problems(entry: object, exc: ValidationError) -> list[str]:
    """One problem line per error of one entry of such a setting, `entry.field: message`
    (never the input: an entry holds secrets)."""
    lines = []
    for err in exc.errors(include_input=False):
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"{entry}{'.' + where if where else ''}: {_text(err)}")
    return lines


def _parse_accounts(raw: str) -> dict[str, YotpoAccount]:
    data = json_object_setting(raw)
    accounts: dict[str, YotpoAccount] = {}
    problems: list[str] = []
    for store, value in data.items():
        try:
            accounts[str(store)] = YotpoAccount.model_validate(value)
        except ValidationError as exc:
            problems.extend(located_problems(store, exc))
    if problems:
        raise ValueError("; ".join(problems))
    return accounts


class ProviderAccount(BaseModel):
    """One LOYALTY_PROVIDERS entry: a provider other than Yotpo serving a store (or `default`).

    `options` is the rest of the entry, validated by the provider's own account model
    (`shared/providers/registry.py`: `FACTORY.account_model` of the provider's module)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    options: Any  # the provider's validated account model


class ProviderSettings(_Base):
    """Per store, a loyalty provider other than Yotpo (ADR 0080).

    Yotpo accounts stay where they are (YOTPO_ACCOUNTS, or YOTPO_GUID/YOTPO_API_KEY); a store
    key (or `default`) listed here is served by the provider it names instead, and must not
    also be a Yotpo account key. A store with neither falls back to `default`, whichever
    provider that is.
    """

    loyalty_providers: SecretStr | None = Field(
        default=None,
        description=(
            'Stores served by a provider other than Yotpo, as JSON: {"<store key>|default": '
            '{"provider": "voyado", ...that provider\'s account fields}}'
        ),
    )

    def provider_accounts(self) -> dict[str, ProviderAccount]:
        """Store key (or `default`) → its non-Yotpo provider account; {} when unset."""
        if self.loyalty_providers is None:
            return {}
        return _parse_providers(self.loyalty_providers.get_secret_value())

    def provider_problems(self, yotpo_keys: frozenset[str] = frozenset()) -> list[str]:
        if self.loyalty_providers is None:
            return []
        try:
            accounts = self.provider_accounts()
        except ValueError as exc:
            return [f"LOYALTY_PROVIDERS: {exc}"]
        both = sorted(set(accounts) & yotpo_keys)
        if both:
            return [
                f"LOYALTY_PROVIDERS: {', '.join(both)} also configured as Yotpo account(s); "
                "a store has one provider"
            ]
        return []

    def provider_secret_values(self) -> list[str]:
        from shared.providers.registry import secret_values

        values: list[str] = []
        for account in self.provider_accounts().values():
            if isinstance(account.options, BaseModel):
                values.extend(secret_values(account.options))
        return values


def _parse_providers(raw: str) -> dict[str, ProviderAccount]:
    from shared.providers.registry import UnknownProvider, factory

    data = json_object_setting(raw)
    accounts: dict[str, ProviderAccount] = {}
    problems: list[str] = []
    for store, value in data.items():
        if not isinstance(value, dict) or not isinstance(value.get("provider"), str):
            problems.append(f'{store}: must be an object with a "provider" name')
            continue
        name = value["provider"]
        if name == "yotpo":
            problems.append(f"{store}: Yotpo accounts belong in YOTPO_ACCOUNTS")
            continue
        try:
            made = factory(name)
        except UnknownProvider as exc:
            problems.append(f"{store}.provider: {exc}")
            continue
        try:
            options = made.account({k: v for k, v in value.items() if k != "provider"})
        except ValidationError as exc:
            problems.extend(located_problems(store, exc))
            continue
        accounts[str(store)] = ProviderAccount(provider=name, options=options)
    if problems:
        raise ValueError("; ".join(problems))
    return accounts


class LoggingSettings(_Base):
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return value


class MemberSettings(_Base):
    """Who a customer is in Yotpo: read by every app that names a Yotpo member by id.

    The event and job apps (orders, customer sync) and the service app (checkout and in-store
    lookups name the member by id too) must agree, so every app reads these keys.
    """

    member_id_source: Literal["id", "externalId", "customField"] = Field(
        default="id",
        description="Yotpo member id: the commercetools id, externalId, or a customer custom field",
    )
    member_id_field: str = Field(
        default=DEFAULT_MEMBER_ID_FIELD,
        min_length=1,
        description="Customer custom field holding the member id (MEMBER_ID_SOURCE=customField)",
    )

    def member_identity(self) -> MemberIdentity:
        return MemberIdentity(source=self.member_id_source, custom_field=self.member_id_field)


class CustomerSyncSettings(MemberSettings):
    """How customers become Yotpo members: opt-in and tags (event and job apps)."""

    opt_in_policy: Literal["account", "always", "customer_field"] = Field(
        default="account",
        description=(
            "Loyalty opt-in sent to Yotpo: account (Yotpo's own setting), always, or "
            "customer_field (the boolean custom field OPT_IN_FIELD)"
        ),
    )
    opt_in_field: str = Field(
        default=DEFAULT_OPT_IN_FIELD,
        min_length=1,
        description="Boolean customer custom field holding the opt-in (or marketing consent)",
    )
    customer_tags_from_groups: bool = Field(
        default=True, description="Send the customer's groups to Yotpo as customer tags"
    )

    def customer_sync_config(self) -> CustomerSyncConfig:
        return CustomerSyncConfig(
            identity=self.member_identity(),
            opt_in_policy=self.opt_in_policy,
            opt_in_field=self.opt_in_field,
            tags_from_groups=self.customer_tags_from_groups,
        )


class PlannerSettings(CustomerSyncSettings):
    """How orders earn and refund: read by every app that reconciles orders (event, job).

    Includes the member settings: an order is told to Yotpo under its customer's member.
    """

    earning_trigger: Literal["created", "paid", "shipped", "completed"] = Field(
        default="paid", description="When an order earns points: created, paid, shipped, completed"
    )
    yotpo_order_status: str = Field(
        default="paid",
        min_length=1,
        description="Order status sent to Yotpo; must match the account's earning status regex",
    )
    order_id_source: Literal["orderNumber", "id"] = Field(
        default="orderNumber", description="Order id sent to Yotpo: orderNumber (else id) or id"
    )
    amount_base: Literal["total", "subtotal"] = Field(
        default="total", description="Points base: order total, or merchandise subtotal"
    )
    item_id_source: Literal["sku", "productId"] = Field(
        default="sku", description="Line item id sent to Yotpo: sku or productId"
    )
    item_name_locale: str = Field(default="en", description="Locale of item names sent to Yotpo")
    refund_source: Literal["payments", "returns"] = Field(
        default="payments",
        description="Refunds from Refund payment transactions (payments) or refunded returns",
    )

    return_reward_points_on_cancel: bool = Field(
        default=True,
        description="Give back the points a reward cost when the order that used it is cancelled",
    )
    instore_stores: str | None = Field(
        default=None,
        description=(
            'Physical stores whose imported orders are in-store sales, JSON: {"<store key>": '
            '{"address"?, "city"?, "state"?}}'
        ),
    )
    item_vendor_attribute: str | None = Field(
        default=None, description="Variant attribute sent to Yotpo as the item's vendor"
    )
    # The checkout seals the reward it applied under a key derived from this secret
    # (shared/domain/checkout/reward_state.py); reading the seal on orders needs the same value.
    extension_secret: SecretStr | None = Field(
        default=None,
        description="The service app's EXTENSION_SECRET, to verify the reward an order used",
    )

    @field_validator("instore_stores")
    @classmethod
    def _stores(cls, value: str | None) -> str | None:
        if value is not None:
            parse_instore_stores(value)
        return value

    def planner_config(self) -> PlannerConfig:
        return PlannerConfig(
            earning_trigger=self.earning_trigger,
            yotpo_order_status=self.yotpo_order_status,
            order_id_source=self.order_id_source,
            amount_base=self.amount_base,
            item_id_source=self.item_id_source,
            locale=self.item_name_locale,
            refund_source=self.refund_source,
            return_reward_points_on_cancel=self.return_reward_points_on_cancel,
            members=self.customer_sync_config(),
            instore_stores=parse_instore_stores(self.instore_stores or "{}"),
            item_vendor_attribute=self.item_vendor_attribute,
        )

    def reward_seal_key(self) -> bytes | None:
        """The key the checkout's reward seals open with (None: rewards stay unverified)."""
        if self.extension_secret is None or not self.extension_secret.get_secret_value():
            return None
        return seal_key(self.extension_secret.get_secret_value())


def parse_instore_stores(raw: str) -> dict[str, StoreLocation]:
    """INSTORE_STORES as store key → location; ValueError naming what is wrong (no values)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object: {"<store key>": {"address", "city", "state"}}')
    stores: dict[str, StoreLocation] = {}
    problems: list[str] = []
    for key, value in data.items():
        try:
            stores[str(key)] = StoreLocation.model_validate(value or {})
        except ValidationError as exc:
            for err in exc.errors(include_input=False):
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{key}{'.' + where if where else ''}: {_text(err)}")
    if problems:
        raise ValueError("; ".join(problems))
    return stores


class ConnectorSettings(CommercetoolsSettings, YotpoSettings, ProviderSettings, LoggingSettings):
    """What every app reads; each app extends it with its own keys."""

    app_name: ClassVar[str] = "connector"

    def secret_values(self) -> list[str]:
        """Every secret value, so the log scrubber can redact it wherever it turns up."""
        values = [self.ctp_client_secret.get_secret_value()]
        for account in self.accounts().values():
            values.append(account.api_key.get_secret_value())
        if isinstance(self, ProviderSettings):
            values.extend(self.provider_secret_values())
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and name not in _ACCOUNT_LISTS:
                values.append(value.get_secret_value())
        return sorted({v for v in values if v})

    def extra_problems(self) -> list[str]:
        """Cross-field checks; subclasses add their own."""
        problems = self.yotpo_problems()
        if isinstance(self, ProviderSettings):
            yotpo_keys = frozenset(self.accounts()) if not problems else frozenset()
            problems += self.provider_problems(yotpo_keys)
        return problems


# JSON settings holding several accounts: their secrets are listed one by one, not whole.
_ACCOUNT_LISTS = frozenset({"yotpo_accounts", "loyalty_providers"})


def env_name(field_name: str) -> str:
    return field_name.upper()


S = TypeVar("S", bound=ConnectorSettings)


def load_settings(cls: type[S], env: Mapping[str, str] | None = None) -> S:
    """Read `cls` from the environment (or `env`), raising SettingsError naming every problem."""
    try:
        settings = cls() if env is None else cls.model_validate(_lower_keys(env, cls))
    except ValidationError as exc:
        problems = _describe(exc)
        # Field errors stop pydantic before the cross-field checks; run those on their own
        # group so the operator still sees every problem in one go.
        try:
            group = (
                YotpoSettings()
                if env is None
                else YotpoSettings.model_validate(_lower_keys(env, YotpoSettings))
            )
            problems.extend(group.yotpo_problems())
        except ValidationError:
            pass
        raise SettingsError(problems) from None
    problems = settings.extra_problems()
    if problems:
        raise SettingsError(problems)
    return settings


def _lower_keys(env: Mapping[str, str], cls: type[BaseSettings]) -> dict[str, str]:
    fields = set(cls.model_fields)
    return {k.lower(): v for k, v in env.items() if k.lower() in fields and v != ""}


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        name = env_name(str(err["loc"][0])) if err["loc"] else "settings"
        problems.append(f"{name}: {_text(err)}")
    return problems


def _text(err: Any) -> str:
    if err["type"] == "missing":
        return "missing"
    return str(err["msg"]).removeprefix("Value error, ")
