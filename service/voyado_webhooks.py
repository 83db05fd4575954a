"""Voyado Engage's webhooks, received by the service app at `POST /voyado/webhooks` (ADR 0085).

Voyado sends its webhooks through Svix
(https://developer.voyado.com/en/webhooks/webhooks-for-points-and-vouchers.html). Each one is
verified before its body is read. The signature is HMAC-SHA256 over
`{svix-id}.{svix-timestamp}.{raw body}` under the `whsec_` secret, and the timestamp must lie
within five minutes (https://docs.svix.com/receiving/verifying-payloads/how-manual). Every
Voyado account of `LOYALTY_PROVIDERS` that has a `webhookSecret` is tried, each through its
adapter's `VoyadoProvider.verify_webhook` (constant-time comparisons). All of them are tried
every time, so how long a refusal takes does not depend on which secret came closest. The
account that verifies is the tenant that sent it. An unsigned, wrongly signed or too old
delivery gets 401 and nothing is read or written.

Topics:

- `point.balance.updated`: the payload names the contact (`contactId`). The contact is read
  with the account's client. Its commercetools customer is found through the account's
  `matchKey` first (email → the one customer with that email; externalId → the customer
  whose member id it is, `CustomerWriteback.customer_of_member`), then through the other key.
  The balance is then written back by the one write-back, through the provider port
  (`shared.customers.writeback`, ADR 0097). The payload's `balance` is not used: a webhook is
  only a reason to look (the body is input, not state). The balance is read fresh from
  Voyado, so a late or reordered delivery cannot write an older balance.
- `reward.voucher.created`: acknowledged and logged. The connector does not redeem Voyado
  vouchers at checkout yet, so there is nothing to write.
- Anything else: 200 and ignored (Svix counts any other status as a failure and retries,
  https://docs.svix.com/retries).

Redeliveries: Svix retries a message under the same `svix-id`. The connector keeps no
delivery record. The write-back is idempotent: it reads the balance fresh, and an equal state
plans no action, so there is no write and no new version. A redelivery therefore changes
nothing, and a record would cost one commercetools write per webhook to save a few reads on a
rare retry. A record written before the work would also swallow the retry of a delivery that
failed halfway. Every `voyado_webhook.*` line carries the `svix-id` (`delivery_id`).

Failures: a body that is not an envelope of this shape → 400, with `webhook-delivery:
abort-message` so that Svix stops retrying what can never work
(https://docs.svix.com/retries). A transient failure (Voyado or commercetools later) → 503,
and Svix retries. A permanent one (the custom type is missing, MultipleMatches, an encrypted
payload) → 200, logged at ERROR. Once the cause is fixed, the contact's next balance change
writes the fresh balance (and the nightly run reads the balance from Voyado too). No input
produces a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request

from service.writeback_outcomes import writeback_failed, written_back
from shared.commercetools import CommercetoolsClient
from shared.customers.lookup import customer_by_email
from shared.customers.writeback import CustomerWriteback
from shared.domain import values
from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event
from shared.providers.voyado import VoyadoAccount, VoyadoProvider
from shared.runtime import Runtime
from shared.settings import ConnectorSettings, ProviderSettings
from shared.voyado import SvixVerificationError
from shared.webapp import JsonInputError, error_response, loads_json

logger = logging.getLogger(__name__)

VOYADO_WEBHOOK_PATH = "/voyado/webhooks"
BALANCE_UPDATED = "point.balance.updated"
VOUCHER_CREATED = "reward.voucher.created"
# Svix waits 15 s for the answer (https://docs.svix.com/retries); leave room for the rest.
WEBHOOK_BUDGET_SECONDS = 5.0
# "Retries will be stopped if the receiving end includes the header `webhook-delivery:
# abort-message` in its response" (https://docs.svix.com/retries).
ABORT_HEADER = ("webhook-delivery", "abort-message")
_MAX_ID_LENGTH = 256

CustomerOfMember = Callable[[str], Mapping[str, Any] | None]


class MalformedWebhook(ValueError):
    """A verified body that is not a Voyado webhook envelope this app can read (400)."""


@dataclass(frozen=True)
class VoyadoWebhookAccount:
    """One Voyado account that receives webhooks: its `LOYALTY_PROVIDERS` key and adapter."""

    key: str
    provider: VoyadoProvider


@dataclass(frozen=True)
class Verified:
    account: VoyadoWebhookAccount
    delivery_id: str  # svix-id: the same on every retry of one message


class VoyadoWebhooks:
    def __init__(
        self,
        accounts: Sequence[VoyadoWebhookAccount],
        writeback: CustomerWriteback,
        commercetools: CommercetoolsClient,
        customer_of_member: CustomerOfMember,
        *,
        budget_seconds: float = WEBHOOK_BUDGET_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = list(accounts)
        self._writeback = writeback
        self._ct = commercetools
        self._customer_of_member = customer_of_member
        self._budget = budget_seconds
        self._clock = clock
        self._monotonic = monotonic

    @property
    def configured(self) -> bool:
        return bool(self._accounts)

    # --- verification ------------------------------------------------------------------------
    def verify(self, headers: Mapping[str, str], body: bytes) -> Verified | None:
        """The account whose secret signed this delivery, None when none did. Every account is
        tried, even after a match, so timing says nothing about the secrets."""
        now = self._clock()
        found: Verified | None = None
        for account in self._accounts:
            try:
                delivery_id = account.provider.verify_webhook(headers, body, now)
            except SvixVerificationError:
                continue
            except (PermanentError, ValueError) as exc:
                # No secret, or a secret that is not whsec_ + base64: configuration.
                log_event(
                    logger,
                    "voyado_webhook.secret_unusable",
                    level=logging.ERROR,
                    account=account.key,
                    error=type(exc).__name__,
                    outcome="skipped",
                )
                continue
            if found is None:
                found = Verified(account, delivery_id)
        return found

    # --- the handler ---------------------------------------------------------------------------
    def handle(self, verified: Verified, envelope: Any) -> str:
        """The outcome; raises MalformedWebhook (400) or TransientError (503: deliver again)."""
        if not isinstance(envelope, Mapping):
            raise MalformedWebhook("the body must be a JSON object")
        event_type = values.text(envelope.get("eventType"), limit=200, too_long="refuse")
        if event_type is None:
            raise MalformedWebhook("the envelope has no eventType")
        fields = {
            "delivery_id": verified.delivery_id,
            "event_type": event_type,
            "account": verified.account.key,
        }
        if event_type not in (BALANCE_UPDATED, VOUCHER_CREATED):
            log_event(logger, "voyado_webhook.ignored", **fields, outcome="ignored")
            return "ignored"
        payload = envelope.get("payload")
        if envelope.get("isEncrypted") is True:
            # An encrypted payload needs a key the connector is not given; retrying cannot help.
            log_event(
                logger,
                "voyado_webhook.encrypted",
                level=logging.ERROR,
                **fields,
                failure="permanent",
                outcome="failed",
            )
            return "encrypted"
        if not isinstance(payload, Mapping):
            raise MalformedWebhook(f"{event_type} without a payload object")
        if event_type == VOUCHER_CREATED:
            contact_id = _id(payload.get("ContactId"))
            if contact_id is None:
                raise MalformedWebhook(f"{event_type} without ContactId")
            log_event(
                logger,
                "voyado_webhook.voucher_created",
                **fields,
                contact_id=contact_id,
                voucher_id=_id(payload.get("Id")),
                outcome="acknowledged",
            )
            return "acknowledged"
        contact_id = _id(payload.get("contactId"))
        if contact_id is None:
            raise MalformedWebhook(f"{event_type} without contactId")
        return self._balance(verified.account, contact_id, fields)

    def _balance(
        self, account: VoyadoWebhookAccount, contact_id: str, fields: dict[str, Any]
    ) -> str:
        deadline = self._monotonic() + self._budget
        provider = account.provider.bounded(self._budget)
        fields = {**fields, "contact_id": contact_id}
        try:
            contact = provider.client.get_contact(contact_id)
            if contact is None:
                log_event(logger, "voyado_webhook.unknown_contact", **fields, outcome="ignored")
                return "unknown_contact"
            customer = self._customer_of(contact, provider.renderer.config.match_key)
            if customer is None:
                log_event(logger, "voyado_webhook.unknown_customer", **fields, outcome="ignored")
                return "unknown_customer"
            result = self._writeback.sync_customer(customer, provider, deadline=deadline)
        except TransientError:
            raise
        except PermanentError as exc:
            # Retrying cannot help until someone fixes the cause; the next change catches up.
            return writeback_failed(logger, "voyado_webhook", exc, **fields)
        return written_back(logger, "voyado_webhook", result, **fields)

    def _customer_of(self, contact: Mapping[str, Any], match_key: str) -> Mapping[str, Any] | None:
        """The commercetools customer of a contact: the account's match key first."""
        attributes = _attributes(contact)
        email = values.text(attributes.get("email"), limit=_MAX_ID_LENGTH, too_long="refuse")
        external_id = _id(attributes.get("externalId"))
        order = ("externalId", "email") if match_key == "externalId" else ("email", "externalId")
        for key in order:
            if key == "email" and email:
                found = customer_by_email(self._ct, email)
            elif key == "externalId" and external_id:
                found = self._customer_of_member(external_id)
            else:
                continue
            if found is not None:
                return found
        return None


def _attributes(contact: Mapping[str, Any]) -> Mapping[str, Any]:
    """A v3 contact keeps its fields under `attributes`; a flat contact (v2) at the top."""
    nested = contact.get("attributes")
    return nested if isinstance(nested, Mapping) else contact


def _id(value: Any) -> str | None:
    return values.text(value, limit=_MAX_ID_LENGTH, too_long="refuse", numbers=True)


# --- the route ---------------------------------------------------------------------------------
def webhook_accounts(settings: ConnectorSettings, runtime: Runtime) -> list[VoyadoWebhookAccount]:
    """The Voyado accounts of LOYALTY_PROVIDERS that have a `webhookSecret`."""
    if not isinstance(settings, ProviderSettings):
        return []
    found: list[VoyadoWebhookAccount] = []
    for key, account in settings.provider_accounts().items():
        options = account.options
        route = runtime.providers.get(key)
        if not isinstance(options, VoyadoAccount) or options.webhook_secret is None:
            continue
        if route is not None and isinstance(route.provider, VoyadoProvider):
            found.append(VoyadoWebhookAccount(key, route.provider))
    return found


def register_voyado_webhooks(
    app: Flask,
    settings: ConnectorSettings,
    runtime: Runtime,
    commercetools: CommercetoolsClient,
    writeback: CustomerWriteback,
    *,
    path: str = VOYADO_WEBHOOK_PATH,
) -> VoyadoWebhooks:
    """`POST {path}`: verify the Svix signature, then hand the envelope to `VoyadoWebhooks`.
    `commercetools` is the service app's quick webhook client; `writeback` is the service's
    one write-back (the Yotpo webhooks' too): it writes the balance, and its
    `customer_of_member` finds a customer by member id."""
    webhooks = VoyadoWebhooks(
        webhook_accounts(settings, runtime),
        writeback,
        commercetools,
        writeback.customer_of_member,
    )

    @app.post(path, endpoint="voyado_webhook")
    def voyado_webhook() -> tuple[Response, int]:
        if not webhooks.configured:
            return error_response(
                404,
                "not_configured",
                "give a Voyado account of LOYALTY_PROVIDERS a webhookSecret for its webhooks",
            )
        raw = request.get_data(cache=True)
        verified = webhooks.verify(request.headers, raw)
        if verified is None:
            g.outcome = "unauthorized"
            return error_response(401, "unauthorized", "missing, invalid or expired Svix signature")
        try:
            outcome = webhooks.handle(verified, _envelope(raw))
        except MalformedWebhook as exc:
            g.outcome = "invalid"
            response, status = error_response(400, "invalid_webhook", str(exc))
            response.headers[ABORT_HEADER[0]] = ABORT_HEADER[1]
            return response, status
        except TransientError as exc:
            # Svix delivers again under the same svix-id; nothing was half-written (one
            # versioned update per look).
            g.outcome = "retry"
            log_event(
                logger,
                "voyado_webhook.retry",
                level=logging.WARNING,
                delivery_id=verified.delivery_id,
                account=verified.account.key,
                error=describe(exc),
                failure="transient",
                outcome="retry",
            )
            return error_response(503, "retry_later", "try again later")
        except Exception as exc:  # never a 500: Svix retries a 503, and the log says why
            g.outcome = "retry"
            log_event(
                logger,
                "voyado_webhook.unexpected_error",
                level=logging.ERROR,
                delivery_id=verified.delivery_id,
                account=verified.account.key,
                error=type(exc).__name__,
                failure="transient",
                outcome="retry",
            )
            return error_response(503, "retry_later", "try again later")
        g.outcome = outcome
        return jsonify({"outcome": outcome}), 200

    return webhooks


def _envelope(raw: bytes) -> Any:
    """The verified body as strict JSON (shared.webapp's rules); MalformedWebhook otherwise."""
    if not raw:
        raise MalformedWebhook("the body is empty")
    try:
        return loads_json(raw)
    except JsonInputError as exc:
        raise MalformedWebhook(f"the body is not JSON: {exc}") from None
