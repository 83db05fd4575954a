"""OAuth of the commercetools stand-in: client credentials, the password flow and anonymous
sessions, scopes, and the bearer tokens they grant
(<https://docs.commercetools.com/api/authorization>, <https://docs.commercetools.com/api/scopes>)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sandbox.commercetools import oauth
from sandbox.commercetools.errors import ApiError
from sandbox.commercetools.state_core import StateCore


class TokensMixin(StateCore):
    """`POST /oauth/token`, `/oauth/{projectKey}/customers/token`, `.../anonymous/token`."""

    def _client_ok(self, client_id: str, client_secret: str) -> bool:
        if not client_id or not client_secret:
            return False
        expected = (self.config.client_id, self.config.client_secret)
        return self.config.client_id is None or (client_id, client_secret) == expected

    def _grant(self, scope: str | None, default: str, **subject: str | None) -> dict[str, Any]:
        text = scope or f"{default}:{self.project_key}"
        names = oauth.parse_scope(text, self.project_key)
        if names is None:
            raise ApiError.single(400, "invalid_scope", f"Invalid scope: '{text}'.")
        token = secrets.token_urlsafe(24)
        now = self.config.clock()
        grant = oauth.Grant(now + self.config.token_ttl, names, **subject)
        with self._admin_lock:
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at > now}
            self._tokens[token] = grant
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl,
            "scope": text,
        }
        if subject.get("anonymous_id"):
            answer["scope"] = f"{text} anonymous_id:{subject['anonymous_id']}"
        return answer

    def issue_token(
        self, client_id: str, client_secret: str, scope: str | None
    ) -> dict[str, Any] | None:
        """A bearer token for valid client credentials, None for invalid ones."""
        if not self._client_ok(client_id, client_secret):
            return None
        return self._grant(scope, "manage_project")

    def issue_customer_token(
        self, client_id: str, client_secret: str, email: str, password: str, scope: str | None
    ) -> dict[str, Any] | None:
        """The password flow: a token acting for the customer; None for wrong credentials."""
        if not self._client_ok(client_id, client_secret):
            return None
        customer = self.store.find("customers", "email", email.lower())
        stored = self._passwords.get(customer["id"]) if customer else None
        if customer is None or stored is None or not oauth.password_matches(password, stored):
            raise ApiError.single(
                400,
                "invalid_customer_account_credentials",
                "Customer account with the given credentials not found.",
            )
        return self._grant(scope, "manage_my_orders", customer_id=customer["id"])

    def issue_anonymous_token(
        self, client_id: str, client_secret: str, scope: str | None, anonymous_id: str | None
    ) -> dict[str, Any] | None:
        """The anonymous session flow: a token for a new (or the given) anonymous id."""
        if not self._client_ok(client_id, client_secret):
            return None
        return self._grant(
            scope, "manage_my_orders", anonymous_id=anonymous_id or str(uuid.uuid4())
        )

    def set_password(self, customer_id: str, password: str) -> None:
        with self._admin_lock:
            self._passwords[customer_id] = oauth.hash_password(password)

    def grant(self, token: str) -> oauth.Grant | None:
        with self._admin_lock:
            entry = self._tokens.get(token)
        return entry if entry is not None and entry.expires_at > self.config.clock() else None

    def token_valid(self, token: str) -> bool:
        return self.grant(token) is not None
