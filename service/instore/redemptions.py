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

Which reward, its points, its currency and its value follow the same rules, with the same
error codes, as the online checkout: `shared/domain/checkout/redemption.py`
(docs/adr/0090-one-set-of-redemption-rules.md). The HTTP status of each code is the till's own
(`problems.REDEMPTION_STATUS`).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from service.instore.access import Principal
from service.instore.commerce import CustomerDirectory
from service.instore.members import Member, find_member
from service.instore.models import RedemptionRequest, ReversalRequest
from service.instore.problems import Problem, redemption_problem
from service.instore.replays import Answer, RequestLog, fingerprint
from service.redemption_undo import give_back
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.redemption import (
    Approval,
    Channel,
    RedemptionError,
    Rejection,
    currency_refusal,
    find_option,
    is_offline,
    option_kind,
    program_currency,
    redeemable,
    settled_face,
    whole_number,
)
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


def reward_view(option: Mapping[str, Any], currency: str | None) -> dict[str, Any]:
    """A redemption option as the till shows it (amounts in minor units of `currency`)."""
    return {
        "id": str(option.get("id")),
        "name": option.get("name"),
        "description": option.get("description") or "",
        "cost_text": option.get("cost_text"),
        "points": whole_number(option.get(F.AMOUNT)),
        "kind": option_kind(option),
        "amount_minor": whole_number(option.get("discount_amount_cents")),
        "percentage": option.get("discount_percentage"),
        "minimum_minor": whole_number(option.get(F.CART_GREATER_THAN)),
        "currency": option.get("currency") or currency,
        "offline": is_offline(option),
    }


class RedemptionDesk:
    def __init__(
        self,
        runtime: Runtime,
        directory: CustomerDirectory,
        requests: RequestLog,
        records: RedemptionRecords | None = None,
        identity: MemberIdentity | None = None,
        base_currency: str | None = None,
    ) -> None:
        self._runtime = runtime
        # REWARD_BASE_CURRENCY: the currency Yotpo's option amounts are in (ADR 0023).
        self._base_currency = base_currency
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
        """The program's base currency, when known: the till's currency if it names none."""
        return program_currency(self._base_currency, self.route(principal).account.currencies)

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
        shown = [o for o in options if not offline_only or is_offline(o)]
        return {
            "customer_id": customer_id,
            "points_balance": whole_number(member.profile.get(F.POINTS_BALANCE)) or 0,
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
        if currency:
            not_taken = currency_refusal(currency, route.account.currencies)
            if not_taken is not None:
                raise redemption_problem(not_taken, f"the loyalty program does not use {currency}")
        customer = self._directory.by_id(principal, request.customer_id)
        client = self.client(principal)
        member = self.member(client, customer)
        option, approval = self._decide(client, member, request, currency, route)
        points = approval.points
        payload: dict[str, Any] = {
            **member.payload_identifier,
            F.REDEMPTION_OPTION_ID: int(request.option_id),
            F.DELAY_POINTS_DEDUCTION: False,
        }
        if currency:
            payload[F.CURRENCY] = currency
        if approval.kind == "variable":
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
            raise redemption_problem(RedemptionError.REDEMPTION_REFUSED) from None
        redemption_id = redemption.get("id")
        code = redemption.get(F.REWARD_TEXT)
        token = new_redemption_token()
        body = {
            "redemption_id": token,
            "code": code if isinstance(code, str) else None,
            "amount_minor": settled_face(approval, redemption, currency),
            "currency": redemption.get(F.CURRENCY) or currency or option.get("currency"),
            "points": points,
            "customer_id": request.customer_id,
            "option_id": request.option_id,
        }
        try:
            if body["code"] is None or redemption_id is None:
                raise redemption_problem(
                    RedemptionError.REDEMPTION_REFUSED,
                    "the loyalty program answered without a code",
                )
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
        self,
        client: YotpoClient,
        member: Member,
        request: RedemptionRequest,
        currency: str | None,
        route: YotpoRoute,
    ) -> tuple[Mapping[str, Any], Approval]:
        """The option's terms by the shared rules; refusals say why before anything is spent.

        The till has no basket yet: minimums (and percentages) apply where the code is used."""
        offered = client.redemption_options(**member.identifier)
        # Every option of the program only when needed: it tells an unknown id from one the
        # customer cannot use now.
        option = find_option(offered, request.option_id)
        every = None if option is not None else client.redemption_options()
        decision = redeemable(
            request.option_id,
            channel=Channel.IN_STORE,
            offered=offered,
            all_options=every,
            balance=whole_number(member.profile.get(F.POINTS_BALANCE)),
            points=request.points,
            currency=currency,
            base_currency=program_currency(self._base_currency, route.account.currencies),
            basket=None,
        )
        if isinstance(decision, Rejection):
            raise redemption_problem(decision)
        assert option is not None  # an approval is always of an offered option
        return option, decision

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
        # A failure leaves the points deducted for a code nobody was shown: an operator acts.
        give_back(
            logger,
            lambda: client.cancel_redemption(
                str(redemption_id), reward_text=code if isinstance(code, str) else None
            ),
            failed="pos.redemption_orphaned",
            done="pos.redemption_undone",
            errors=(Exception,),
            failed_level=logging.ERROR,
            done_level=logging.WARNING,
            done_outcome="reversed",
            key_id=principal.key_id,
            redemption_id=str(redemption_id),
            reason=reason,
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
            raise redemption_problem(
                RedemptionError.UNKNOWN_REDEMPTION, "no redemption with this id"
            )
        client = self.client(principal)
        code = record.get("code")
        try:
            cancelled = client.cancel_redemption(
                str(record["yotpoRedemptionId"]),
                reward_text=code if isinstance(code, str) else None,
            )
        except YotpoPermanentError as exc:
            if exc.status == 404:
                raise redemption_problem(RedemptionError.UNKNOWN_REDEMPTION) from None
            raise redemption_problem(
                RedemptionError.NOT_REVERSIBLE,
                "the redemption cannot be reversed (already used on an order?)",
            ) from None
        points = whole_number(cancelled.get(F.AMOUNT)) if isinstance(cancelled, Mapping) else None
        body = {
            "redemption_id": redemption_id,
            "status": "reversed",
            "points": points if points is not None else whole_number(record.get("points")),
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
