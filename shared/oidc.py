"""Who may call the event and job apps: Google-signed OIDC tokens.

Pub/Sub push (with `--push-auth-service-account`) and Cloud Scheduler (with
`--oidc-service-account-email`) send `Authorization: Bearer <JWT>`: an ID token Google signs
for a service account and an audience we chose when deploying. Cloud Run's own invoker check
already rejects strangers when a service is deployed `--no-allow-unauthenticated`; the apps
verify the token again so that a service exposed publicly by mistake, or run elsewhere,
stays closed.

Verification is ON unless `OIDC_VERIFICATION=off` says otherwise (local runs, the sandbox,
pull mode, a private network): with it on, `OIDC_AUDIENCE` and `OIDC_SERVICE_ACCOUNT_EMAIL`
are required, so a deployed app that lacks them refuses to start instead of running open
(docs/adr/0062-oidc-on-by-default.md). Setting only one of the two is a settings problem
either way: half a configuration must not silently mean "open".

The cryptography is google-auth's (`google.auth.jwt.decode`); this module adds the claims
Google's libraries leave to the caller (issuer, email, email_verified), the certificate cache
and the Flask hook.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests
from flask import Flask, Response, g, request
from google.auth import exceptions as google_auth_exceptions
from google.auth import jwt as google_jwt
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import PermanentError, TransientError
from shared.logs import log_event
from shared.webapp import error_response

logger = logging.getLogger(__name__)

# Google's OAuth2 signing certificates (PEM, by key id): what Pub/Sub and Scheduler tokens
# are signed with.
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
DEFAULT_CERTS_MAX_AGE = 3600.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class OidcSettings(BaseSettings):
    """Mixin for the apps Google infrastructure calls (event, job): verification on (both
    keys required) unless `OIDC_VERIFICATION=off`."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Declared first: the check below reads it from the fields validated before it.
    oidc_verification: Literal["on", "off"] = Field(
        default="on",
        description=(
            "Verify the Google-signed OIDC token of Pub/Sub push / Cloud Scheduler: on "
            "(default; needs OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNT_EMAIL) or off (local runs "
            "and private networks only)"
        ),
    )

    oidc_audience: str | None = Field(
        default=None,
        description=(
            "Audience of the Google OIDC tokens Pub/Sub push or Cloud Scheduler send; with "
            "OIDC_SERVICE_ACCOUNT_EMAIL turns token verification on (neither: off)"
        ),
    )
    # validate_default: the pairing check below must also run when this key is absent.
    oidc_service_account_email: str | None = Field(
        default=None,
        validate_default=True,
        description="Service account whose Google-signed OIDC tokens may call this app",
    )

    @field_validator("oidc_verification", mode="before")
    @classmethod
    def _on_or_off(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("oidc_service_account_email")
    @classmethod
    def _both_or_neither(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if "oidc_audience" not in info.data:
            return value  # the audience itself is invalid; pydantic reports that one
        audience = info.data["oidc_audience"]
        required = info.data.get("oidc_verification", "on") == "on"
        if required and not audience and not value:
            raise ValueError(
                "OIDC verification is on: set OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNT_EMAIL "
                "(or OIDC_VERIFICATION=off for a local run)"
            )
        if value and "@" not in value:
            raise ValueError("expected a service account email")
        if audience and not value:
            raise ValueError("required when OIDC_AUDIENCE is set (set both, or neither)")
        if value and not audience:
            raise ValueError("OIDC_AUDIENCE must be set with it (set both, or neither)")
        return value

    @property
    def oidc_enabled(self) -> bool:
        if self.oidc_verification == "off":
            return False
        return bool(self.oidc_audience and self.oidc_service_account_email)

    def oidc_verifier(self, certs: GoogleCerts | None = None) -> OidcVerifier | None:
        """The verifier these settings ask for, or None when verification is off."""
        if not self.oidc_enabled:
            return None
        assert self.oidc_audience and self.oidc_service_account_email  # by oidc_enabled
        return OidcVerifier(
            audience=self.oidc_audience,
            service_account_email=self.oidc_service_account_email,
            certs=certs,
        )


class InvalidToken(PermanentError):
    """The caller did not prove it is the configured service account: answer 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CertsUnavailable(TransientError):
    """Google's certificates could not be fetched and none are cached: try again later."""


@dataclass(frozen=True)
class FetchedCerts:
    certs: dict[str, str]  # key id -> PEM certificate
    max_age: float  # seconds Google says they stay valid


CertsFetcher = Callable[[], FetchedCerts]


def fetch_google_certs(url: str = GOOGLE_CERTS_URL, timeout: float = 5.0) -> FetchedCerts:
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        certs = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise CertsUnavailable(f"cannot fetch Google's certificates: {type(exc).__name__}") from exc
    if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
        raise CertsUnavailable("Google's certificate endpoint answered an unexpected shape")
    match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
    return FetchedCerts(certs, float(match.group(1)) if match else DEFAULT_CERTS_MAX_AGE)


class GoogleCerts:
    """Google's signing certificates, kept for as long as Google's Cache-Control allows.

    A token signed with a key id we do not know yet (Google rotates keys daily) forces one
    refetch, at most every `min_refresh_interval` seconds so junk tokens cannot turn every
    request into a call to Google. When a refetch fails the last certificates stay in use.
    """

    def __init__(
        self,
        fetch: CertsFetcher | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_refresh_interval: float = 30.0,
    ) -> None:
        self._fetch = fetch or fetch_google_certs
        self._clock = clock
        self._min_refresh_interval = min_refresh_interval
        self._lock = threading.Lock()
        self._certs: dict[str, str] | None = None
        self._expires = 0.0
        self._fetched_at: float | None = None

    def get(self, key_id: str | None = None) -> Mapping[str, str]:
        with self._lock:
            now = self._clock()
            stale = self._certs is None or now >= self._expires
            unknown = key_id is not None and self._certs is not None and key_id not in self._certs
            recently = self._fetched_at is not None and (
                now - self._fetched_at < self._min_refresh_interval
            )
            if stale or (unknown and not recently):
                self._refresh(now)
            assert self._certs is not None  # _refresh raised otherwise
            return dict(self._certs)

    def _refresh(self, now: float) -> None:
        self._fetched_at = now
        try:
            fetched = self._fetch()
        except CertsUnavailable as exc:
            if self._certs is None:
                raise
            # Keep the last certificates and try again a little later, not on every request.
            self._expires = now + self._min_refresh_interval
            log_event(logger, "oidc.certs_stale", level=logging.WARNING, error=str(exc), retry=True)
            return
        self._certs = dict(fetched.certs)
        self._expires = now + max(fetched.max_age, 0.0)


@dataclass(frozen=True)
class Caller:
    """The verified identity behind a request."""

    email: str
    subject: str
    issuer: str


class OidcVerifier:
    def __init__(
        self,
        *,
        audience: str,
        service_account_email: str,
        certs: GoogleCerts | None = None,
        clock_skew_seconds: int = 10,
    ) -> None:
        self.audience = audience
        self.service_account_email = service_account_email
        self._certs = certs or GoogleCerts()
        self._skew = clock_skew_seconds

    def verify(self, authorization: str | None) -> Caller:
        """The caller behind an `Authorization` header value; InvalidToken unless it proves to
        be the configured service account, with a live Google-signed token for our audience."""
        token = _bearer(authorization)
        try:
            header = google_jwt.decode_header(token)
        except Exception as exc:
            raise InvalidToken("malformed token") from exc
        key_id = header.get("kid") if isinstance(header, dict) else None
        certs = self._certs.get(key_id if isinstance(key_id, str) else None)
        try:
            claims: dict[str, Any] = google_jwt.decode(
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=self._skew
            )
        except (ValueError, google_auth_exceptions.GoogleAuthError) as exc:
            # google-auth's messages name the failed check (expired, audience, key id ...).
            raise InvalidToken(str(exc)[:200]) from exc
        except (TypeError, KeyError, AttributeError, OverflowError) as exc:
            # A signed token whose claims have the wrong types (`"exp": "soon"`): google-auth
            # does arithmetic on them. Still not a valid token, never a 500.
            raise InvalidToken(f"malformed claims ({type(exc).__name__})") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("malformed claims")
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise InvalidToken("token is not issued by Google")
        email = str(claims.get("email") or "")
        if email.lower() != self.service_account_email.lower():
            raise InvalidToken(f"token is for {email or 'no email'}, not the configured account")
        # Google's ID tokens carry a JSON boolean (https://developers.google.com/identity/
        # openid-connect/openid-connect#an-id-tokens-payload); anything else is not Google's.
        if claims.get("email_verified") is not True:
            raise InvalidToken("token email is not verified")
        return Caller(email=email, subject=str(claims.get("sub") or ""), issuer=claims["iss"])


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("missing bearer token")
    return token.strip()


def protect(app: Flask, verifier: OidcVerifier | None, paths: set[str]) -> None:
    """Answer 401 on `paths` unless the request carries a valid token (`verifier`); with no
    verifier (verification off) the paths stay open, and the log says so once at start-up."""
    protected = frozenset(paths)
    if verifier is None:
        log_event(
            logger,
            "oidc.disabled",
            level=logging.WARNING,
            paths=sorted(protected),
            reason="OIDC_VERIFICATION=off: anyone who reaches these paths may call them",
        )
        return

    @app.before_request
    def _authenticate() -> tuple[Response, int] | None:
        if request.path not in protected:
            return None
        try:
            caller = verifier.verify(request.headers.get("Authorization"))
        except InvalidToken as exc:
            g.outcome = "unauthenticated"
            log_event(
                logger,
                "oidc.rejected",
                level=logging.WARNING,
                path=request.path,
                reason=exc.reason,
                outcome="rejected",
            )
            response, status = error_response(
                401, "unauthenticated", "a valid Google-signed OIDC bearer token is required"
            )
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response, status
        except CertsUnavailable as exc:
            # Not the caller's fault: a non-2xx makes Pub/Sub and Scheduler try again.
            g.outcome = "retry"
            log_event(
                logger,
                "oidc.unavailable",
                level=logging.ERROR,
                path=request.path,
                error=str(exc),
                retry=True,
                outcome="retry",
            )
            return error_response(503, "oidc_unavailable", "cannot verify tokens right now")
        g.oidc_caller = caller.email
        return None
