"""Svix webhook signatures (Voyado delivers its webhooks through Svix).

https://docs.svix.com/receiving/verifying-payloads/how-manual"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from shared.voyado.errors import SvixVerificationError

# Svix: "the timestamp ... compare it against your system timestamp and make sure it's within
# your tolerance" (5 minutes in Svix's own libraries).
SVIX_TOLERANCE_SECONDS: Final = 5 * 60


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Svix may white-label its headers with a `webhook-` prefix ("The Svix libraries support
    # both", https://docs.svix.com/receiving/verifying-payloads/how-manual).
    wanted = {f"svix-{name}", f"webhook-{name}"}
    for key, value in headers.items():
        if str(key).lower() in wanted and value:
            return str(value)
    return None


def _secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a Svix secret is whsec_ followed by base64") from exc


def verify_svix(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes | str,
    now: datetime | float,
    *,
    tolerance_seconds: int = SVIX_TOLERANCE_SECONDS,
) -> str:
    """Verify a Svix-signed webhook as https://docs.svix.com/receiving/verifying-payloads/
    how-manual describes; answer the message id (`svix-id`, the same on every retry, so the
    receiver can drop repeats).

    The signed content is `{svix-id}.{svix-timestamp}.{raw body}`, signed with HMAC-SHA256 under
    the base64 key after `whsec_`; `svix-signature` is a space-separated list of
    `v1,<base64>` (several during a secret rotation; other versions are ignored). The
    timestamp must lie within `tolerance_seconds` of `now` either way (replay protection).
    Several secrets may be given (rotation on our side). Raises `SvixVerificationError`.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(secrets):
        raise ValueError("a webhook secret is required")
    message_id = _header(headers, "id")
    timestamp = _header(headers, "timestamp")
    signatures = _header(headers, "signature")
    if not message_id or not timestamp or not signatures:
        raise SvixVerificationError("missing Svix headers")
    if not timestamp.strip().isdigit():
        raise SvixVerificationError("invalid Svix timestamp")
    moment = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(moment - int(timestamp.strip())) > tolerance_seconds:
        raise SvixVerificationError("Svix timestamp outside the tolerance")
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signed = f"{message_id}.{timestamp.strip()}.".encode() + raw
    expected = [
        base64.b64encode(hmac.new(_secret_key(s), signed, hashlib.sha256).digest()) for s in secrets
    ]
    offered = []
    for part in signatures.split(" "):
        version, _, value = part.strip().partition(",")
        if version == "v1" and value:
            offered.append(value.encode("ascii", "replace"))
    # Compare every pair in constant time, and do not stop at the first match.
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise SvixVerificationError("no Svix signature matches")
    return message_id
