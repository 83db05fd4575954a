"""Rewards at the till: list what a customer can redeem, redeem one for a code, reverse it.

Redemptions are the one thing this API sends to Yotpo itself (they are not order events).
Points leave the balance at once (`delay_points_deduction: false`): the code is used within
minutes at the till, and a delayed code would keep the points spendable online meanwhile.
A code not used after all is given back by a reversal (Yotpo's redemption cancellation).

Redemption ids given to terminals are not Yotpo's (small sequential integers any key could
walk through) but random tokens naming a record in `yotpo-loyalty-pos-redemptions`: the Yotpo
id and code, and the key, store and Yotpo account that redeemed. A reversal finds that record
and refuses anything another store created — or that was never a POS redemption, such as an
online checkout's (docs/adr/0063-pos-keys-stay-in-their-store.md).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from service.instore.access import Principal
from service.instore.commerce import CustomerDirectory
from service.instore.members import Member, find_member
from service.instore.models import RedemptionRequest, ReversalRequest
from service.instore.problems import Problem, conflict, invalid, not_found, refused
from service.instore.replays import Answer, RequestLog, fingerprint
from shared.commercetools import CommercetoolsClient
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import YotpoPermanentError, describe
from shared.logs import log_event
from shared.runtime import Runtime, YotpoRoute
from shared.yotpo import YotpoClient
from shared.yotpo import YotpoFields as F

logger = logging.getLogger(__name__)

# A terminal waits for the associate's screen: answer (or fail) well within a human's patience.
YOTPO_BUDGET_SECONDS = 8.0
RECORDS_CONTAINER = "yotpo-loyalty-pos-redemptions"
# 144 random bits, URL- and custom-object-key-safe (`[-_A-Za-z0-9]`).
_TOKEN_BYTES = 18
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{24}$")


def new_redemption_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


class RedemptionRecords:
    """Which POS key, store and Yotpo account created each in-store redemption."""

    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def create(self, token: str, value: dict[str, Any]) -> None:
        # version 0: create only; a token collision (2^-144) fails loudly instead of overwriting.
        self._ct.put_custom_object(RECORDS_CONTAINER, token, value, version=0)

    def find(self, token: str) -> dict[str, Any] | None:
        if not TOKEN_PATTERN.match(token):
            return None
        found = self._ct.get_custom_object(RECORDS_CONTAINER, token)
        value = found.get("value") if isinstance(found, dict) else None
        return value if isinstance(value, dict) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rate(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return None
    return rate if rate.is_finite() and 0 < rate < 10**6 else None


def _kind(option: Mapping[str, Any]) -> str:
    discount_type = str(option.get(F.DISCOUNT_TYPE) or "")
    if "percentage" in discount_type:
        return "percentage"
    if "variable" in discount_type:
        return "variable"
    return "fixed"


def _offline(option: Mapping[str, Any]) -> bool:
    return getattr(option, "offline", None) is True or bool(option.get("is_offline"))


def reward_view(option: Mapping[str, Any], currency: str | None) -> dict[str, Any]:
    """A redemption option as the till shows it (amounts in minor units of `currency`)."""
    return {
        "id": str(option.get("id")),
        "name": option.get("name"),
        "description": option.get("description") or "",
        "cost_text": option.get("cost_text"),
        "points": _int(option.get(F.AMOUNT)),
        "kind": _kind(option),
        "amount_minor": _int(option.get("discount_amount_cents")),
        "percentage": option.get("discount_percentage"),
        "minimum_minor": _int(option.get(F.CART_GREATER_THAN)),
        "currency": option.get("currency") or currency,
        "offline": _offline(option),
    }


def _redeemed_amount(
    option: Mapping[str, Any], redemption: Mapping[str, Any], points: int
) -> int | None:
    """The code's value in minor units: Yotpo's own figure, else the option's (None: a
    percentage, whose value depends on the basket)."""
    given = _int(redemption.get("discount_amount_cents"))
    if given is not None:
        return given
    per_step = _int(option.get("discount_amount_cents"))
    kind = _kind(option)
    if kind == "fixed":
        return per_step
    rate = _rate(option.get(F.DISCOUNT_RATE_CENTS))
    if kind == "variable" and rate is not None:
        # Each point is worth `discount_rate_cents` (what Yotpo's answers carry for
        # generic_variable options); whole minor units, rounded down.
        return int((rate * points).to_integral_value(rounding=ROUND_FLOOR))
    if kind == "variable" and per_step is not None:
        step = max(_int(option.get(F.AMOUNT)) or 1, 1)
        return points // step * per_step
    return None


class RedemptionDesk:
    def __init__(
        self,
        runtime: Runtime,
        directory: CustomerDirectory,
        requests: RequestLog,
        records: RedemptionRecords | None = None,
        identity: MemberIdentity | None = None,
    ) -> None:
        self._runtime = runtime
        self._directory = directory
        self._requests = requests
        self._records = records or RedemptionRecords(runtime.commercetools)
        self._identity = identity or MemberIdentity()

    @property
    def identity(self) -> MemberIdentity:
        """Who a customer is in Yotpo (MEMBER_ID_SOURCE); lookups use the same."""
        return self._identity

    def member(self, client: YotpoClient, customer: Mapping[str, Any]) -> Member:
        return find_member(client, customer, self._identity)

    def route(self, principal: Principal) -> YotpoRoute:
        route = self._runtime.yotpo_for_store(principal.store)
        if route is None:  # register_instore checks this at start-up; config may still drift
            raise Problem(503, "not_configured", "no loyalty program serves this store")
        return route

    def client(self, principal: Principal) -> YotpoClient:
        return self.route(principal).client.bounded(YOTPO_BUDGET_SECONDS)

    def _default_currency(self, principal: Principal) -> str | None:
        currencies = self.route(principal).account.currencies
        return next(iter(currencies)) if len(currencies) == 1 else None

    # --- rewards ---------------------------------------------------------------------------
    def rewards(self, principal: Principal, customer_id: str, offline_only: bool) -> dict[str, Any]:
        customer = self._directory.by_id(principal, customer_id)
        client = self.client(principal)
        member = self.member(client, customer)
        # Yotpo's `is_offline=true` filter lists the in-store options
        # (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options).
        options = client.redemption_options(
            **member.identifier, is_offline=True if offline_only else None
        )
        currency = self._default_currency(principal)
        shown = [o for o in options if not offline_only or _offline(o)]
        return {
            "customer_id": customer_id,
            "points_balance": _int(member.profile.get(F.POINTS_BALANCE)) or 0,
            "rewards": [reward_view(o, currency) for o in shown],
        }

    # --- redemption ------------------------------------------------------------------------
    def redeem(self, principal: Principal, request: RedemptionRequest) -> Answer:
        digest = fingerprint("redemption", request.model_dump())
        replay = self._requests.recall(principal, request.request_id, digest)
        if replay is not None:
            return replay
        route = self.route(principal)
        currency = request.currency or self._default_currency(principal)
        if currency and not route.account.accepts(currency):
            raise refused("currency_not_enabled", f"the loyalty program does not use {currency}")
        customer = self._directory.by_id(principal, request.customer_id)
        client = self.client(principal)
        member = self.member(client, customer)
        option, points = self._decide(client, member, request)
        payload: dict[str, Any] = {
            **member.payload_identifier,
            F.REDEMPTION_OPTION_ID: int(request.option_id),
            F.DELAY_POINTS_DEDUCTION: False,
        }
        if currency:
            payload[F.CURRENCY] = currency
        if _kind(option) == "variable":
            payload[F.POINTS_TO_REDEEM] = points
        try:
            redemption = client.create_redemption(payload)
        except YotpoPermanentError as exc:
            # Yotpo's words stay in the log: the answer goes to a till screen.
            log_event(
                logger,
                "pos.redemption_refused",
                level=logging.WARNING,
                key_id=principal.key_id,
                option_id=request.option_id,
                error=describe(exc),
                outcome="refused",
            )
            raise refused(
                "redemption_refused", "the loyalty program refused this redemption"
            ) from None
        redemption_id = redemption.get("id")
        code = redemption.get(F.REWARD_TEXT)
        token = new_redemption_token()
        body = {
            "redemption_id": token,
            "code": code if isinstance(code, str) else None,
            "amount_minor": _redeemed_amount(option, redemption, points),
            "currency": redemption.get(F.CURRENCY) or currency or option.get("currency"),
            "points": points,
            "customer_id": request.customer_id,
            "option_id": request.option_id,
        }
        try:
            if body["code"] is None or redemption_id is None:
                raise refused("redemption_refused", "the loyalty program answered without a code")
            self._records.create(
                token,
                {
                    "yotpoRedemptionId": str(redemption_id),
                    "code": body["code"],
                    "keyId": principal.key_id,
                    "store": principal.store,
                    "accountGuid": route.account.guid,
                    "customerId": request.customer_id,
                    # The Yotpo member the points left (MEMBER_ID_SOURCE may make it differ).
                    "memberId": member.member_id,
                    "points": points,
                    "at": datetime.now(UTC).isoformat(),
                },
            )
            answer, ours = self._requests.keep(
                principal, request.request_id, digest, Answer(201, body)
            )
        except Exception:
            # Unrecorded, a retry would redeem again: give these points back now.
            self._undo(client, principal, redemption_id, "not_recorded", code)
            raise
        if not ours:
            # A concurrent copy of this request won; its code is the one the till shows.
            self._undo(client, principal, redemption_id, "lost_race", code)
            return answer
        log_event(
            logger,
            "pos.redemption",
            key_id=principal.key_id,
            store=principal.store,
            customer_id=request.customer_id,
            option_id=request.option_id,
            redemption_id=token,
            yotpo_redemption_id=str(redemption_id),
            points=points,
            request_id=request.request_id,
            outcome="redeemed",
        )
        return answer

    def _decide(
        self, client: YotpoClient, member: Member, request: RedemptionRequest
    ) -> tuple[Mapping[str, Any], int]:
        """The option and the points it costs; refusals say why before anything is spent."""
        usable = client.redemption_options(**member.identifier)
        option = next((o for o in usable if str(o.get("id")) == request.option_id), None)
        if option is None:
            known = next(
                (o for o in client.redemption_options() if str(o.get("id")) == request.option_id),
                None,
            )
            if known is None:
                raise not_found("unknown_reward", "the loyalty program has no such reward")
            raise refused(
                "not_enough_points", "the customer cannot redeem this reward now (points)"
            )
        cost = _int(option.get(F.AMOUNT)) or 0
        if _kind(option) != "variable":
            if request.points is not None and request.points != cost:
                raise invalid("invalid_points", f"this reward costs exactly {cost} points")
            return option, cost
        step = max(cost, 1)
        if request.points is None or request.points % step:
            raise invalid("invalid_points", f"give points as a positive multiple of {step}")
        balance = _int(member.profile.get(F.POINTS_BALANCE)) or 0
        if request.points > balance:
            raise refused("not_enough_points", f"the customer has {balance} points")
        return option, request.points

    def _undo(
        self,
        client: YotpoClient,
        principal: Principal,
        redemption_id: Any,
        reason: str,
        code: Any = None,
    ) -> None:
        if redemption_id is None:
            return
        try:
            client.cancel_redemption(
                str(redemption_id), reward_text=code if isinstance(code, str) else None
            )
        except Exception as exc:
            # The points stay deducted for a code nobody was shown: an operator must act.
            log_event(
                logger,
                "pos.redemption_orphaned",
                level=logging.ERROR,
                key_id=principal.key_id,
                redemption_id=str(redemption_id),
                reason=reason,
                error=describe(exc),
                outcome="needs_operator",
            )
            return
        log_event(
            logger,
            "pos.redemption_undone",
            level=logging.WARNING,
            key_id=principal.key_id,
            redemption_id=str(redemption_id),
            reason=reason,
            outcome="reversed",
        )

    # --- reversal --------------------------------------------------------------------------
    def reverse(self, principal: Principal, redemption_id: str, request: ReversalRequest) -> Answer:
        digest = fingerprint("reversal", {"redemption_id": redemption_id})
        replay = self._requests.recall(principal, request.request_id, digest)
        if replay is not None:
            return replay
        record = self._records.find(redemption_id)
        route = self.route(principal)
        if (
            record is None
            or record.get("store") != principal.store
            or record.get("accountGuid") != route.account.guid
        ):
            # Another store's, an online checkout's, or none at all: the same answer for each.
            raise not_found("unknown_redemption", "no redemption with this id")
        client = self.client(principal)
        code = record.get("code")
        try:
            cancelled = client.cancel_redemption(
                str(record["yotpoRedemptionId"]),
                reward_text=code if isinstance(code, str) else None,
            )
        except YotpoPermanentError as exc:
            if exc.status == 404:
                raise not_found("unknown_redemption", "no redemption with this id") from None
            raise conflict(
                "not_reversible", "the redemption cannot be reversed (already used on an order?)"
            ) from None
        points = _int(cancelled.get(F.AMOUNT)) if isinstance(cancelled, Mapping) else None
        body = {
            "redemption_id": redemption_id,
            "status": "reversed",
            "points": points if points is not None else _int(record.get("points")),
        }
        answer, _ = self._requests.keep(principal, request.request_id, digest, Answer(200, body))
        log_event(
            logger,
            "pos.reversal",
            key_id=principal.key_id,
            store=principal.store,
            redemption_id=redemption_id,
            points=body["points"],
            request_id=request.request_id,
            outcome="reversed",
        )
        return answer
