"""Yotpo's webhooks, received by the service app at `POST /yotpo/webhooks`.

- `swell/point_redemption/cancellation_request`: "triggered when a customer wants to reverse
  their redemption and receive their points back … the customer won't receive their points
  back until Yotpo receives an API call approving the cancellation request"
  (https://loyaltyapi.yotpo.com/reference/redemption-cancellation-request). If the code is
  still unused in commercetools it is disabled there (a discount code is deactivated; a reward
  on an open cart is recorded as cancelled, so the extension drops it) and the cancellation is
  approved in Yotpo (`POST /redemptions/{id}/cancellation_completed`), through the rewards port
  (`RewardsAccount.cancel`, shared/providers/rewards.py, ADR 0098) like every give-back. If an
  order already used the code, nothing is approved: the refusal is logged and recorded for the
  audit.
- `swell/points/changed`, `swell/tier/earned`, `swell/tier/lost`, `swell/tier/status/changed`:
  the member's balance and tier are written back onto its commercetools customer at once,
  by the one write-back every provider and the nightly run use (`shared.customers.writeback`,
  through the provider port's `member_state`, ADR 0097), from the Yotpo account serving the
  customer's store. The webhook is only a reason to look: the member is read fresh from
  Yotpo, so late or reordered webhooks cannot write an old balance. The payload's
  `customer.third_party_id` / `id` is the member id: with
  `MEMBER_ID_SOURCE=externalId|customField` the customer is the one holding it, else (no such
  customer) the one customer with the payload's email.

The work is bounded so Yotpo gets its answer within a few seconds; a transient failure raises,
the app answers 503 and Yotpo delivers again (every step above is idempotent).

Authentication: no public Yotpo page says how the "Webhook Authentication" value configured in
the Loyalty admin travels (no signature is documented either). The receiver accepts it in a
header whose name is configurable, or as a token in the webhook URL (`?token=…`), compared in
constant time and never logged. `YOTPO_WEBHOOK_VERIFY=true` logs, for every delivery, the names
of the headers and query parameters it carried and which one held the configured secret —
never a value — so an operator sees from one real delivery how Yotpo sends it
(docs/adr/0041-webhook-authentication.md).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.cancellations import CancellationRefusals, CancelledCodes
from service.writeback_outcomes import writeback_failed, written_back
from shared.commercetools import CommercetoolsClient, literal
from shared.customers.lookup import customer_by_email
from shared.customers.writeback import CustomerWriteback
from shared.domain import values
from shared.domain.loyalty_fields import CartFields
from shared.domain.providers.yotpo import PROVIDER as YOTPO
from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event
from shared.providers.rewards import NotReversible, Redeemed, RewardGone, rewards_account
from shared.runtime import ProviderRoute
from shared.settings import DEFAULT_ACCOUNT
from shared.webapp import error_response, json_body
from shared.yotpo import YotpoFields

logger = logging.getLogger(__name__)

# The connector's default header name: an assumption (no Yotpo page names one), configurable.
DEFAULT_SECRET_HEADER = "X-Yotpo-Webhook-Secret"
WEBHOOK_SECRET_HEADER = DEFAULT_SECRET_HEADER  # kept for importers of the old name
URL_TOKEN_PARAM = "token"
# Which Yotpo account sent the webhook (several accounts register several URLs).
ACCOUNT_PARAM = "account"
WEBHOOK_PATH = "/yotpo/webhooks"

CANCELLATION_REQUEST = "swell/point_redemption/cancellation_request"
WRITEBACK_TOPICS = frozenset(
    {
        "swell/points/changed",
        "swell/tier/earned",
        "swell/tier/lost",
        "swell/tier/status/changed",
    }
)
# Yotpo's own webhook timeout is not documented; answering within a few seconds is safe.
WRITEBACK_BUDGET_SECONDS = 3.0
# The customer's id in webhook payloads: `third_party_id`, spelled `thirty_party_id` in the
# points-changed example (https://loyaltyapi.yotpo.com/reference/points-changed).
_CUSTOMER_ID_KEYS = (YotpoFields.THIRD_PARTY_ID, "thirty_party_id", YotpoFields.ID)


class WebhookError(ValueError):
    """The body is not a Yotpo webhook this app can act on."""


# --- settings and authentication -----------------------------------------------------------
class WebhookAuthSettings(BaseSettings):
    """How Yotpo's webhooks authenticate (service app). The shared secret itself stays
    `YOTPO_WEBHOOK_SECRET`."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    yotpo_webhook_secret_header: str = Field(
        default=DEFAULT_SECRET_HEADER,
        min_length=1,
        description="Header that carries YOTPO_WEBHOOK_SECRET on Yotpo's webhook deliveries",
    )
    yotpo_webhook_url_token: SecretStr | None = Field(
        default=None,
        description="Token also accepted as ?token= in the webhook URL registered in Yotpo",
    )
    yotpo_webhook_verify: bool = Field(
        default=False,
        description="Log the header and query names of every webhook delivery (never values)",
    )

    @field_validator("yotpo_webhook_secret_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in " :\r\n\t"):
            raise ValueError("must be an HTTP header name")
        return value

    def webhook_auth(self, secret: SecretStr | None) -> WebhookAuth:
        token = self.yotpo_webhook_url_token
        return WebhookAuth(
            secret=secret.get_secret_value() if secret else None,
            header=self.yotpo_webhook_secret_header,
            url_token=token.get_secret_value() if token else None,
            verify=self.yotpo_webhook_verify,
        )


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


@dataclass(frozen=True)
class WebhookAuth:
    secret: str | None
    header: str = DEFAULT_SECRET_HEADER
    url_token: str | None = None
    verify: bool = False

    def __repr__(self) -> str:  # never the values
        return f"WebhookAuth(header={self.header!r}, verify={self.verify})"

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.url_token)

    def accepted_by(self, headers: Mapping[str, str], args: Mapping[str, str]) -> str | None:
        """How the delivery proved itself (`header` or `url_token`), None if it did not."""
        if self.secret and _same(headers.get(self.header), self.secret):
            return "header"
        token = args.get(URL_TOKEN_PARAM)
        for expected in (self.url_token, self.secret):
            if expected and token is not None and _same(token, expected):
                return "url_token"
        return None

    def inspect(
        self, headers: Mapping[str, str], args: Mapping[str, str], body: Any
    ) -> dict[str, Any]:
        """Names only: which headers, query parameters and body keys a delivery carried, and
        which of them (`carrier_*`) held the configured secret or token. Never a value. (The
        field names avoid "secret"/"token": the log scrubber blanks fields named so.)"""
        expected = [v for v in (self.secret, self.url_token) if v]

        def holds(value: Any) -> bool:
            return isinstance(value, str) and any(_same(value, e) for e in expected)

        body_keys = sorted(str(k) for k in body) if isinstance(body, Mapping) else []
        return {
            # `.keys()`: iterating werkzeug's headers yields (name, value) pairs.
            "header_names": sorted({str(k) for k in headers.keys()}),  # noqa: SIM118
            "query_names": sorted({str(k) for k in args.keys()}),  # noqa: SIM118
            "body_keys": body_keys,
            "carrier_headers": sorted(str(k) for k, v in headers.items() if holds(v)),
            "carrier_query": sorted(str(k) for k, v in args.items() if holds(v)),
            "carrier_body_keys": sorted(
                str(k) for k, v in (body.items() if isinstance(body, Mapping) else ()) if holds(v)
            ),
        }


def register_webhook_route(
    app: Flask, webhooks: YotpoWebhooks, auth: WebhookAuth, *, path: str = WEBHOOK_PATH
) -> None:
    """`POST {path}`: authenticate, then hand the body to `webhooks`."""

    @app.post(path, endpoint="yotpo_webhook")
    def yotpo_webhook() -> tuple[Response, int]:
        if not auth.configured:
            return error_response(
                404, "not_configured", "set YOTPO_WEBHOOK_SECRET to receive Yotpo webhooks"
            )
        via = auth.accepted_by(request.headers, request.args)
        if auth.verify:
            body = request.get_json(silent=True, force=True)
            log_event(
                logger,
                "webhook.delivery_seen",
                authenticated=via is not None,
                via=via,
                topic=_text(body.get("topic")) if isinstance(body, Mapping) else None,
                **auth.inspect(request.headers, request.args, body),
            )
        if via is None:
            return error_response(401, "unauthorized", "missing or wrong webhook secret")
        account = request.args.get(ACCOUNT_PARAM) or DEFAULT_ACCOUNT
        try:
            outcome = webhooks.handle(json_body(), account=account)
        except WebhookError as exc:
            return error_response(400, "invalid_webhook", str(exc))
        except TransientError as exc:
            # Yotpo delivers the webhook again; nothing was half-written (one update per look).
            g.outcome = "retry"
            return error_response(503, "retry_later", describe(exc))
        g.outcome = outcome
        return jsonify({"outcome": outcome}), 200


# --- the handler ---------------------------------------------------------------------------
# An account key (a webhook's `?account=`) → the provider account configured under it.
AccountFor = Callable[[str], ProviderRoute | None]


@dataclass(frozen=True)
class CodeUse:
    """Where a reward code stands in commercetools."""

    used_by_order: dict[str, Any] | None
    discount_code: dict[str, Any] | None


class YotpoWebhooks:
    def __init__(
        self,
        cancelled: CancelledCodes,
        writeback: CustomerWriteback | None = None,
        *,
        commercetools: CommercetoolsClient | None = None,
        accounts: AccountFor | None = None,
        refusals: CancellationRefusals | None = None,
        budget_seconds: float = WRITEBACK_BUDGET_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cancelled = cancelled
        self._writeback = writeback
        self._ct = commercetools
        self._accounts = accounts
        self._refusals = refusals
        self._budget = budget_seconds
        self._monotonic = monotonic

    def handle(self, body: dict[str, Any], *, account: str = DEFAULT_ACCOUNT) -> str:
        """The outcome; raises WebhookError (400) or TransientError (503: deliver again)."""
        topic = str(body.get("topic") or "")
        if not topic:
            raise WebhookError("webhook has no topic")
        if topic == CANCELLATION_REQUEST:
            return self._cancellation(body, account)
        if topic in WRITEBACK_TOPICS and self._writeback is not None:
            return self._write_back(topic, body)
        log_event(logger, "webhook.ignored", topic=topic, outcome="ignored")
        return "ignored"

    # --- cancellation requests -------------------------------------------------------------
    def _cancellation(self, body: dict[str, Any], account: str) -> str:
        code = _text(body.get(YotpoFields.REWARD_TEXT))
        if not code:
            raise WebhookError("cancellation request without reward_text")
        redemption_id = _text(body.get(YotpoFields.POINT_REDEMPTION_ID))
        if not redemption_id:
            raise WebhookError("cancellation request without point_redemption_id")
        customer = body.get("customer")
        customer_id = _customer_id(customer if isinstance(customer, Mapping) else {})
        use = self._code_use(code)
        if use.used_by_order is not None:
            order = use.used_by_order
            if self._refusals is not None:
                self._refusals.record(
                    code,
                    redemption_id=redemption_id,
                    customer_id=customer_id,
                    order_id=order.get("id"),
                    order_number=order.get("orderNumber"),
                    reason="used_by_order",
                )
            log_event(
                logger,
                "webhook.cancellation_refused",
                level=logging.WARNING,
                redemption_id=redemption_id,
                order_id=order.get("id"),
                reason="used_by_order",
                outcome="refused",
            )
            return "used_by_order"
        # Stop the code first, so no checkout accepts it while the points come back.
        self._cancelled.record(code, redemption_id=redemption_id, customer_id=customer_id)
        if use.discount_code is not None:
            self._deactivate(use.discount_code)
        return self._approve(redemption_id, code, account, customer_id)

    def _code_use(self, code: str) -> CodeUse:
        if self._ct is None:
            return CodeUse(used_by_order=None, discount_code=None)
        found = self._ct.query("discount-codes", where=f"code = {literal(code)}", limit=1)
        discount_code = next(iter(found.get("results") or []), None)
        clauses = [f"custom(fields({CartFields.REWARD_CODE} = {literal(code)}))"]
        if discount_code is not None:
            clauses.append(f"discountCodes(discountCode(id = {literal(discount_code['id'])}))")
        orders = self._ct.query("orders", where=" or ".join(clauses), limit=1)
        used = next(iter(orders.get("results") or []), None)
        return CodeUse(used_by_order=used, discount_code=discount_code)

    def _deactivate(self, discount_code: Mapping[str, Any]) -> None:
        assert self._ct is not None
        if not discount_code.get("isActive", True):
            return
        self._ct.update(
            "discount-codes",
            str(discount_code["id"]),
            int(discount_code["version"]),
            [{"action": "changeIsActive", "isActive": False}],
        )
        log_event(
            logger,
            "webhook.discount_code_deactivated",
            discount_code_id=discount_code.get("id"),
            outcome="deactivated",
        )

    def _approve(self, redemption_id: str, code: str, account: str, customer_id: str | None) -> str:
        route = self._accounts(account) if self._accounts is not None else None
        # Only a Yotpo account can approve a Yotpo redemption's cancellation.
        rewards = (
            rewards_account(route.provider.bounded(self._budget))
            if route is not None and route.provider.name == YOTPO
            else None
        )
        if rewards is None:
            log_event(
                logger,
                "webhook.cancellation_not_approved",
                level=logging.ERROR,
                redemption_id=redemption_id,
                account=account,
                failure="permanent",
                outcome="failed",
                error="no Yotpo account for this webhook",
            )
            return "no_account"
        try:
            rewards.cancel(Redeemed(redemption_id=redemption_id, code=code))
        except (RewardGone, NotReversible) as exc:
            # Yotpo refuses (e.g. an order it processed used the code): retrying cannot help.
            if self._refusals is not None:
                self._refusals.record(
                    code,
                    redemption_id=redemption_id,
                    customer_id=customer_id,
                    order_id=None,
                    order_number=None,
                    reason=f"yotpo_refused:{exc.status}",
                )
            log_event(
                logger,
                "webhook.cancellation_not_approved",
                level=logging.ERROR,
                redemption_id=redemption_id,
                status=exc.status,
                failure="permanent",
                outcome="failed",
                error=describe(exc),
            )
            return "approval_refused"
        log_event(
            logger,
            "webhook.cancellation_approved",
            redemption_id=redemption_id,
            customer_id=customer_id,
            outcome="approved",
        )
        return "approved"

    # --- write-back ------------------------------------------------------------------------
    def _write_back(self, topic: str, body: dict[str, Any]) -> str:
        assert self._writeback is not None
        customer = body.get("customer")
        if not isinstance(customer, Mapping):
            raise WebhookError(f"{topic} without a customer object")
        deadline = self._monotonic() + self._budget
        # The payload's id is the Yotpo member id, which is the commercetools id only with
        # MEMBER_ID_SOURCE=id (docs/adr/0010-member-identity.md).
        member = _customer_id(customer)
        by_id = self._writeback.identity.source == "id"
        try:
            if member and by_id:
                # Yotpo speaks for its own members: only a Yotpo account serves the customer.
                result = self._writeback.sync(member, deadline=deadline, provider_name=YOTPO)
            else:
                found = self._writeback.customer_of_member(member) if member else None
                if found is None:
                    found = self._by_email(_text(customer.get("email")) or _text(body.get("email")))
                if found is None:
                    log_event(
                        logger,
                        "webhook.unknown_customer",
                        topic=topic,
                        member_id=member,
                        outcome="ignored",
                    )
                    return "unknown_customer"
                # Yotpo is read under the found customer's own member id: an email match
                # can only ever show that customer its own member.
                result = self._writeback.sync_customer(
                    found, deadline=deadline, provider_name=YOTPO
                )
        except PermanentError as exc:
            # Retrying cannot help until configuration is fixed; the nightly job catches up.
            return writeback_failed(logger, "webhook", exc, topic=topic, member_id=member)
        return written_back(logger, "webhook", result, topic=topic)

    def _by_email(self, email: str | None) -> Mapping[str, Any] | None:
        """A customer Yotpo only knows by email (joined before its id was linked)."""
        if not email or self._ct is None:
            return None
        return customer_by_email(self._ct, email)


def _customer_id(customer: Mapping[str, Any]) -> str | None:
    for key in _CUSTOMER_ID_KEYS:
        found = _text(customer.get(key))
        if found:
            return found
    return None


def _text(value: Any) -> str | None:
    # Yotpo sends ids as strings or integers (`point_redemption_id` is "901" in the example).
    return values.text(value, numbers=True)


# --- `python -m service.webhooks inspect`: what does a real delivery carry? ----------------
def inspection_app(auth: WebhookAuth) -> Flask:
    """Answers 200 to any POST and logs `webhook.delivery_seen` with names only."""
    app = Flask("yotpo-webhook-inspect")

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def seen(path: str) -> tuple[Response, int]:
        body = request.get_json(silent=True, force=True)
        via = auth.accepted_by(request.headers, request.args) if auth.configured else None
        log_event(
            logger,
            "webhook.delivery_seen",
            path="/" + path[:200],
            authenticated=via is not None,
            via=via,
            topic=_text(body.get("topic")) if isinstance(body, Mapping) else None,
            **auth.inspect(request.headers, request.args, body),
        )
        return jsonify({"seen": True}), 200

    return app


def main(argv: list[str] | None = None) -> int:
    """`python -m service.webhooks inspect --port 8099`: a throw-away receiver to register in
    Yotpo's admin (behind any tunnel) before go-live. Each delivery prints one JSON line with
    the header, query and body-key names it carried and which of them held
    YOTPO_WEBHOOK_SECRET / YOTPO_WEBHOOK_URL_TOKEN (read from the environment) — never a value.
    Then set YOTPO_WEBHOOK_SECRET_HEADER to the header it names (or use a URL token)."""
    import argparse
    import os

    from werkzeug.serving import make_server

    from shared.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m service.webhooks", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="log what webhook deliveries carry")
    inspect.add_argument("--port", type=int, default=8099)
    inspect.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)

    secret = os.environ.get("YOTPO_WEBHOOK_SECRET") or None
    token = os.environ.get("YOTPO_WEBHOOK_URL_TOKEN") or None
    configure_logging("webhook-inspect", secrets=[v for v in (secret, token) if v])
    auth = WebhookAuth(secret=secret, url_token=token, verify=True)
    server = make_server(args.host, args.port, inspection_app(auth), threaded=True)
    log_event(logger, "webhook.inspect_listening", port=server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
