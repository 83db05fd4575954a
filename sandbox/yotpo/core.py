"""The core of the Yotpo stand-in's engine: accounts, lock, counters, clock and webhook sink;
lifecycle and admin (`reset`, `put_account`, `set_faults`, `state`), the request log, and the
steps every API area shares (member lookup, points changes, tier refresh, webhooks).

The API areas (`customers`, `orders`, `points`, `redemptions`, `admission`) are subclasses of
`EngineCore`; `sandbox.yotpo.engine.YotpoEngine` composes them. Every method that touches
state holds `self._lock`; the `_`-prefixed helpers expect their caller to hold it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.yotpo.bodies import validate
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.faults import FaultConfig, FaultState
from sandbox.yotpo.program import AccountConfig, SandboxConfig, default_config
from sandbox.yotpo.state import Account, Member, iso
from sandbox.yotpo.views import customer_view, program_view, tier_view
from sandbox.yotpo.webhooks import (
    TOPIC_TIER_EARNED,
    TOPIC_TIER_LOST,
    Webhook,
    WebhookDispatcher,
    points_changed_payload,
    tier_changed_payload,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class EngineCore:
    """The engine's state and the steps its API areas share (no endpoint of Yotpo's own).

    `clock` (monotonic seconds) drives the rate limit, `now` stamps records, `sleep` serves
    injected latency, `webhook_sink` receives every outgoing webhook (default: a background
    `WebhookDispatcher`). Tests inject all four.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        webhook_sink: Callable[[Webhook], None] | None = None,
    ) -> None:
        self._initial = (config or default_config()).model_copy(deep=True)
        self._clock = clock
        self._now = now
        self._sleep = sleep
        self._dispatcher: WebhookDispatcher | None = None
        if webhook_sink is None:
            self._dispatcher = WebhookDispatcher()
            webhook_sink = self._dispatcher.send
        self._sink = webhook_sink
        self._lock = threading.RLock()
        self._hang_release = threading.Condition()
        self._hang_generation = 0
        self._load(self._initial)

    def _load(self, config: SandboxConfig) -> None:
        self._accounts: dict[str, Account] = {
            a.guid: Account(a.model_copy(deep=True)) for a in config.accounts
        }
        self._faults: dict[str | None, FaultState] = {}
        self._requests: list[dict[str, Any]] = []
        self._next_member = 1
        self._next_order = 1
        self._next_redemption = 1

    # --- lifecycle / admin ------------------------------------------------------------------

    @property
    def dispatcher(self) -> WebhookDispatcher | None:
        return self._dispatcher

    def reset(self) -> None:
        """Back to the configuration the engine started with; no data, no faults, no log."""
        with self._lock:
            self._load(self._initial)
        if self._dispatcher is not None:
            self._dispatcher.clear()
        self.release_hangs()

    def put_account(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Add an account, or replace the program of an existing one (its data is kept)."""
        config = validate(AccountConfig, body)
        out: list[Webhook] = []
        with self._lock:
            existing = self._accounts.get(config.guid)
            if existing is None:
                self._accounts[config.guid] = Account(config)
            else:
                existing.config = config
                for member in existing.members.values():
                    self._refresh_tier(existing, member, out)
            result = program_view(self._accounts[config.guid])
        self._emit(out)
        return result

    def set_faults(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the faults of one scope (an account, or global when `account` is absent)."""
        config = validate(FaultConfig, body)
        with self._lock:
            if config.account is not None and config.account not in self._accounts:
                raise ApiError(422, f"unknown account {config.account}")
            self._faults[config.account] = FaultState.of(config)
            return self._faults_view()

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults_view()

    def _faults_view(self) -> dict[str, Any]:
        return {
            "global": self._faults[None].as_dict() if None in self._faults else None,
            "accounts": {k: v.as_dict() for k, v in self._faults.items() if k is not None},
        }

    def default_guid(self) -> str:
        with self._lock:
            return next(iter(self._accounts))

    def state(self) -> dict[str, Any]:
        with self._lock:
            accounts = {guid: self._account_state(a) for guid, a in self._accounts.items()}
            duplicates: dict[str, Counter[str]] = {"orders": Counter(), "refunds": Counter()}
            for account in self._accounts.values():
                duplicates["orders"].update(account.duplicate_orders)
                duplicates["refunds"].update(account.duplicate_refunds)
        return {
            "accounts": accounts,
            # Summed over accounts: the one place a test or benchmark looks for connector bugs.
            "duplicates": {k: dict(v) for k, v in duplicates.items()},
        }

    def _account_state(self, account: Account) -> dict[str, Any]:
        members = account.members
        return {
            "program": program_view(account),
            "customers": [
                {
                    # Sandbox bookkeeping next to the Yotpo view (not part of any answer).
                    "member_no": m.member_no,
                    "id": m.customer_id,
                    "birthday": dict(m.birthday) if m.birthday else None,
                    **customer_view(account, m, referral=True, history=True),
                    "history": [dict(h) for h in m.history],
                }
                for m in members.values()
            ],
            "orders": [o.as_dict() for o in account.orders],
            "refunds": [r.as_dict() for r in account.refunds.values()],
            "refunds_failed": [dict(r) for r in account.failed_refunds],
            "redemptions": [r.as_dict(members[r.member_no]) for r in account.redemptions.values()],
            "duplicates": {
                "orders": dict(account.duplicate_orders),
                "refunds": dict(account.duplicate_refunds),
            },
        }

    # --- request log ------------------------------------------------------------------------

    def record_request(self, entry: Mapping[str, Any]) -> int:
        """Append one finished API request to the log; returns its sequence number."""
        with self._lock:
            seq = len(self._requests) + 1
            self._requests.append({"seq": seq, "at": iso(self._now()), **entry})
            return seq

    def requests_since(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests[max(since, 0) :]]

    # --- shutdown ---------------------------------------------------------------------------

    def release_hangs(self) -> None:
        with self._hang_release:
            self._hang_generation += 1
            self._hang_release.notify_all()

    def close(self) -> None:
        self.release_hangs()
        if self._dispatcher is not None:
            self._dispatcher.close()

    # --- internals (callers hold the lock) --------------------------------------------------

    def _account(self, guid: str) -> Account:
        account = self._accounts.get(guid)
        if account is None:
            raise ApiError(401, "unknown account")
        return account

    def _new_member(self, account: Account, email: str) -> Member:
        member = Member(member_no=self._next_member, email=email, created_at=self._now())
        self._next_member += 1
        account.members[member.member_no] = member
        account.by_email[email] = member
        # Joining puts a member in the entry tier silently; only later changes notify.
        self._refresh_tier(account, member, [])
        return member

    @staticmethod
    def _set_email(account: Account, member: Member, email: str) -> None:
        if member.email != email:
            if account.by_email.get(member.email) is member:
                del account.by_email[member.email]
            member.email = email
        account.by_email[email] = member

    @staticmethod
    def _index_profile(account: Account, member: Member) -> None:
        for key, index in (("phone_number", account.by_phone), ("pos_account_id", account.by_pos)):
            for value, owner in list(index.items()):
                if owner is member and value != member.profile.get(key):
                    del index[value]
            if member.profile.get(key):
                index[str(member.profile[key])] = member

    @staticmethod
    def _lookup(account: Account, key: str, value: str) -> Member | None:
        if key == "customer_id":
            return account.by_customer_id.get(value)
        if key == "customer_email":
            return account.by_email.get(value.lower())
        if key == "phone_number":
            return account.by_phone.get(value)
        return account.by_pos.get(value)

    def _require_member(
        self,
        account: Account,
        customer_id: str | None,
        email: str | None,
        phone: str | None = None,
        pos_account_id: str | None = None,
    ) -> Member:
        for key, value in (
            ("customer_id", customer_id),
            ("customer_email", email),
            ("phone_number", phone),
            ("pos_account_id", pos_account_id),
        ):
            if value:
                member = self._lookup(account, key, value)
                if member is None:
                    raise ApiError(404, "customer not found")
                return member
        raise ApiError(422, "a customer_id or customer_email is required")

    def _member_for_order(self, account: Account, customer_id: str | None, email: str) -> Member:
        if customer_id:
            member = account.by_customer_id.get(customer_id)
            if member is not None:
                return member
        member = account.by_email.get(email)
        if member is None:
            member = self._new_member(account, email)
        elif customer_id and member.customer_id not in (None, customer_id):
            raise ApiError(422, "customer_email belongs to another customer id")
        if customer_id and member.customer_id is None:
            member.customer_id = customer_id
            account.by_customer_id[customer_id] = member
        return member

    def _change_points(
        self,
        account: Account,
        member: Member,
        delta: int,
        out: list[Webhook],
        *,
        reason: str,
        action: str,
        earned: int = 0,
        **details: Any,
    ) -> None:
        previous = member.points_balance
        member.points_balance += delta
        member.points_earned = max(0, member.points_earned + earned)
        member.history.append(
            {
                "action": action,
                "points": delta,
                "balance": member.points_balance,
                "created_at": iso(self._now()),
                **details,
            }
        )
        if delta != 0:
            customer = customer_view(account, member)
            spelling = account.program.points_changed_id_spelling
            if spelling != "third_party_id":
                customer[spelling] = customer.pop("third_party_id")
            self._webhook(
                account,
                out,
                points_changed_payload(customer, previous, member.points_balance, action),
            )

    def _refresh_tier(self, account: Account, member: Member, out: list[Webhook]) -> None:
        reached = None
        for tier in reversed(account.tiers_by_rank()):
            if (
                member.total_spend_cents >= tier.amount_spent_cents
                and member.points_earned >= tier.points_earned
                and member.total_purchases >= tier.purchases_made
            ):
                reached = tier
                break
        old = account.tier(member.tier_id)
        if (reached and reached.id) == (old and old.id):
            return
        member.tier_id = reached.id if reached else None
        member.tier_earned_at = self._now() if reached else None
        upgrade = (reached.rank or 0 if reached else -1) > (old.rank or 0 if old else -1)
        self._webhook(
            account,
            out,
            tier_changed_payload(
                TOPIC_TIER_EARNED if upgrade else TOPIC_TIER_LOST,
                customer_view(account, member),
                tier_view(reached) if reached else None,
                tier_view(old) if old else None,
            ),
        )

    @staticmethod
    def _webhook(account: Account, out: list[Webhook], payload: dict[str, Any]) -> None:
        url = account.program.webhook_url
        if url:
            out.append(
                Webhook(
                    url=url,
                    secret=account.program.webhook_secret,
                    payload=payload,
                    secret_header=account.program.webhook_secret_header,
                )
            )

    def _emit(self, out: Iterable[Webhook]) -> None:
        # Called after the lock is released: a slow sink never holds up other requests.
        for webhook in out:
            self._sink(webhook)
