"""Voyado Engage behind the provider port: `VoyadoClient`'s calls, limiter and errors.

`send` takes the body the renderer made and the ledger pinned (`shared/domain/providers/
voyado.py`) and makes the matching calls:

- order / refund: `POST /api/v3/receipts`. Receipts deduplicate on `uniqueReceiptId` for good
  (natural key), so sending one again after a lost answer is safe; Engage gives no way to tell
  a first send from a repeat, so both are `SENT`.
- customer: find the contact by its keys first, create it only when none is found ("Before you
  try to create them, always check if the contact already exists",
  https://developer.voyado.com/en/contacts/create-contact.html). A contact found is
  `DUPLICATE`; 409 MultipleMatches is `AmbiguousContact` (permanent: someone must merge them).
- reward_return: one point transaction row with `Idempotency-Key` = the ledger operation's key
  (kept 24 h by Voyado); `was_applied` reads the account's history for the row's description.
- redemption: redeem (or reactivate) the reward voucher; the documented 409 on a repeat is
  `DUPLICATE`.

Voyado's rate limit ends as `ProviderRateLimited` (nothing was done). Other errors are the
client's `VoyadoTransientError` / `VoyadoPermanentError`, subclasses of the project's
`TransientError` / `PermanentError`. Tiers: Voyado documents no tier or level API, so
`member_state` reports the points balance only (ADR 0085).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.domain.providers.port import OpKind
from shared.domain.providers.voyado import (
    ACTION,
    ACTION_REACTIVATE,
    ACTION_REDEEM,
    CONTACT,
    LOOKUP,
    PROVIDER,
    ROW,
    SOURCE,
    STORE_EXTERNAL_ID,
    VOUCHER_ID,
    VOYADO_CAPABILITIES,
    VoyadoRenderConfig,
    VoyadoRenderer,
)
from shared.errors import PermanentError
from shared.providers.adapter import AccountAdapter
from shared.providers.port import MemberState, ProviderRateLimited, SendOutcome
from shared.providers.registry import ProviderContext, ProviderFactory
from shared.ratelimit import ARRIVAL_GUARD_SECONDS, RateLimiter
from shared.voyado import (
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DEFAULT_USER_AGENT,
    VoyadoClient,
    VoyadoPermanentError,
    VoyadoRateLimited,
    verify_svix,
)

# The lookup keys a pinned body may carry, in the order they are tried.
_LOOKUP_ORDER = ("email", "customKey", "mobilePhone")
_LOOKUP_ARGS = {"email": "email", "customKey": "custom_key", "mobilePhone": "mobile_phone"}
CONTACT_ALREADY_EXISTS = "ContactAlreadyExists"
# Rows of a point account's history read back to find a row already sent.
_HISTORY_ROWS = 500


class VoyadoAccount(BaseModel):
    """One LOYALTY_PROVIDERS entry with `"provider": "voyado"`: a Voyado Engage tenant and one
    API key ("rate limits are measured per API key and not per tenant",
    https://developer.voyado.com/en/api/api-rate-limit.html)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # https://<tenant>.voyado.com, staging https://<tenant>.staging.voyado.com
    # (https://voyado.mintlify.app/docs/api/the-engage-api).
    base_url: str = Field(alias="baseUrl", min_length=1)
    api_key: SecretStr = Field(alias="apiKey")
    # "User-Agent ... must be used in all calls" (api-authentication page).
    user_agent: str = Field(default=DEFAULT_USER_AGENT, alias="userAgent", min_length=1)
    rate_limit_per_second: float = Field(
        default=DEFAULT_RATE_LIMIT_PER_SECOND, alias="rateLimitPerSecond", gt=0, le=200
    )
    store_external_id: str = Field(alias="storeExternalId", min_length=1)
    stores: dict[str, str] = Field(default_factory=dict)  # ct store key → storeExternalId
    contact_type: str = Field(default="Member", alias="contactType", min_length=1)
    match_key: Literal["email", "externalId", "mobilePhone"] = Field(
        default="email", alias="matchKey"
    )
    custom_key_is_external_id: bool = Field(default=True, alias="customKeyIsExternalId")
    point_definition_id: int = Field(default=1, alias="pointDefinitionId")
    source: str = Field(default="commercetools", min_length=1)
    # The Svix endpoint secret (whsec_...) of the tenant's webhooks.
    webhook_secret: SecretStr | None = Field(default=None, alias="webhookSecret")
    currencies: frozenset[str] = frozenset()

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        loopback = value.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not value.startswith("https://") and not loopback:
            raise ValueError("baseUrl must be https:// (calls carry the API key)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _svix(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("whsec_"):
            raise ValueError("webhookSecret is the Svix endpoint secret, whsec_...")
        return value

    @field_validator("currencies", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(code).upper() for code in value)
        return value

    def render_config(self) -> VoyadoRenderConfig:
        return VoyadoRenderConfig(
            default_store_external_id=self.store_external_id,
            stores=dict(self.stores),
            contact_type=self.contact_type,
            match_key=self.match_key,
            custom_key_is_external_id=self.custom_key_is_external_id,
            source=self.source,
            point_definition_id=self.point_definition_id,
        )


class VoyadoProvider(AccountAdapter[VoyadoClient]):
    """One Voyado tenant and API key (`account_key`: `default` or a store key)."""

    PROVIDER = PROVIDER
    CAPABILITIES = VOYADO_CAPABILITIES

    def __init__(
        self,
        account_key: str,
        client: VoyadoClient,
        renderer: VoyadoRenderer,
        *,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__(account_key, client)
        self._renderer = renderer
        self._webhook_secret = webhook_secret

    @property
    def renderer(self) -> VoyadoRenderer:
        return self._renderer

    # --- send --------------------------------------------------------------------------------
    def send(
        self, kind: OpKind, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> SendOutcome:
        try:
            if kind in ("order", "refund"):
                self._client.post_receipt(payload)
                return SendOutcome.SENT
            if kind == "customer":
                return self._upsert_contact(payload)
            if kind == "reward_return":
                return self._points(payload, idempotency_key)
            if kind == "redemption":
                return self._voucher(payload)
        except VoyadoRateLimited as exc:
            raise ProviderRateLimited(str(exc), retry_after=exc.retry_after) from None
        raise PermanentError(f"Voyado has no operation kind {kind!r}")

    def _upsert_contact(self, payload: Mapping[str, Any]) -> SendOutcome:
        if self._find(_mapping(payload.get(LOOKUP))) is not None:
            return SendOutcome.DUPLICATE
        draft = _mapping(payload.get(CONTACT))
        if not draft:
            raise PermanentError("a Voyado contact body without its contact")
        try:
            self._client.create_contact(
                draft,
                source=_text(payload.get(SOURCE)),
                store_external_id=_text(payload.get(STORE_EXTERNAL_ID)),
            )
        except VoyadoPermanentError as exc:
            # Created meanwhile (another worker, or an earlier attempt whose answer was lost).
            if exc.status == 409 and exc.error_code == CONTACT_ALREADY_EXISTS:
                return SendOutcome.DUPLICATE
            raise
        return SendOutcome.SENT

    def _points(self, payload: Mapping[str, Any], idempotency_key: str) -> SendOutcome:
        contact_id = self._find(_mapping(payload.get(LOOKUP)))
        if contact_id is None:
            raise PermanentError(
                "no Voyado contact holds this member: the points have nowhere to go"
            )
        row = {**_mapping(payload.get(ROW)), "contactId": contact_id}
        result = self._client.add_point_transactions([row], idempotency_key=idempotency_key)
        if not result.all_accepted:
            # Voyado skips a bad row inside an accepted answer (PointAccountsService.md).
            raise PermanentError(
                f"Voyado did not accept the point transaction ({len(result.not_accepted)} row "
                f"skipped, {len(result.missing_contact_ids)} contact missing)"
            )
        return SendOutcome.SENT

    def _voucher(self, payload: Mapping[str, Any]) -> SendOutcome:
        voucher_id = _text(payload.get(VOUCHER_ID))
        if not voucher_id:
            raise PermanentError("a Voyado voucher operation without its voucher id")
        action = payload.get(ACTION, ACTION_REDEEM)
        if action == ACTION_REDEEM:
            outcome = self._client.redeem_voucher(voucher_id)
        elif action == ACTION_REACTIVATE:
            outcome = self._client.reactivate_voucher(voucher_id)
        else:
            raise PermanentError(f"unknown Voyado voucher action {action!r}")
        return SendOutcome.SENT if outcome.outcome == "done" else SendOutcome.DUPLICATE

    # --- look-ups ----------------------------------------------------------------------------
    def _find(self, keys: Mapping[str, Any]) -> str | None:
        """The contact id of the first key that finds one (email, customKey, mobilePhone)."""
        for name in _LOOKUP_ORDER:
            value = keys.get(name)
            if isinstance(value, str) and value:
                found = self._client.find_contact_id(**{_LOOKUP_ARGS[name]: value})
                if found is not None:
                    return found
        return None

    def was_applied(self, kind: OpKind, payload: Mapping[str, Any]) -> bool | None:
        """customer: whether a contact holds its keys; reward_return: whether the account's
        history shows the row (same description and amount). Receipts and voucher redeems
        have no read (None): their natural key / 409 make a resend safe anyway."""
        if kind == "customer":
            return self._find(_mapping(payload.get(LOOKUP))) is not None
        if kind != "reward_return":
            return None
        row = _mapping(payload.get(ROW))
        contact_id = self._find(_mapping(payload.get(LOOKUP)))
        if contact_id is None:
            return False
        account = self._account(contact_id, row.get("definitionId"))
        if account is None:
            return False
        history = self._client.point_transactions(account_id=account["id"], limit=_HISTORY_ROWS)
        wanted = finite_decimal(row.get("amount"))
        return any(
            entry.get("description") == row.get("description")
            and finite_decimal(entry.get("amount")) == wanted
            for entry in history
        )

    def _account(self, contact_id: str, definition_id: Any) -> dict[str, Any] | None:
        accounts = self._client.point_accounts(contact_id)
        for account in accounts:
            if str(account.get("definitionId")) == str(definition_id):
                return account
        return None

    def member_state(
        self,
        *,
        member_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> MemberState | None:
        """The member's points balance (the tenant's point definition); no tier (Voyado
        documents no tier API) and no referral."""
        keys: dict[str, str] = {}
        if email:
            keys["email"] = email
        if member_id and self._renderer.config.custom_key_is_external_id:
            keys["customKey"] = member_id
        if phone:
            keys["mobilePhone"] = phone
        if not keys:
            raise ValueError("give member_id, email or phone")
        contact_id = self._find(keys)
        if contact_id is None:
            return None
        account = self._account(contact_id, self._renderer.config.point_definition_id)
        balance = finite_decimal(account.get("balance")) if account is not None else None
        return MemberState(
            member_id=member_id,
            email=email,
            points_balance=math.floor(balance) if balance is not None else None,
            tier=None,
            raw={"contactId": contact_id, "pointAccount": dict(account or {})},
        )

    # --- webhooks ----------------------------------------------------------------------------
    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes | str, now: datetime | float
    ) -> str:
        """The Svix message id of a webhook signed with this tenant's secret
        (`SvixVerificationError` otherwise, or when no secret is configured)."""
        if not self._webhook_secret:
            raise PermanentError("no webhookSecret configured for this Voyado account")
        return verify_svix(self._webhook_secret, headers, body, now)

    # --- budget ------------------------------------------------------------------------------
    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> VoyadoProvider:
        return VoyadoProvider(
            self._key,
            self._client.bounded(budget_seconds, max_retries=max_retries),
            self._renderer,
            webhook_secret=self._webhook_secret,
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def finite_decimal(value: Any) -> Decimal | None:
    """A number Voyado sent (a string or a JSON number) as a finite Decimal, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def build_provider(key: str, account: VoyadoAccount, context: ProviderContext) -> VoyadoProvider:
    """The registry's factory: a provider on its own client and limiter, at this process's
    share of the key's advised rate."""
    rate = context.rate_share(account.rate_limit_per_second)
    client = VoyadoClient(
        account.base_url,
        account.api_key.get_secret_value(),
        user_agent=account.user_agent,
        limiter=RateLimiter(rate, guard_seconds=ARRIVAL_GUARD_SECONDS),
        session=context.session(PROVIDER),
    )
    secret = account.webhook_secret.get_secret_value() if account.webhook_secret else None
    return VoyadoProvider(
        key, client, VoyadoRenderer(account.render_config()), webhook_secret=secret
    )


FACTORY = ProviderFactory(name=PROVIDER, account_model=VoyadoAccount, build=build_provider)
