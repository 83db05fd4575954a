"""The applied reward as the connector recorded it, sealed so a shopper cannot forge it (pure).

A storefront may run `setCustomType` / `setCustomField` on its own cart (My Carts update
actions, https://docs.commercetools.com/api/projects/me-carts#update-actions), and field-level
write protection does not exist. So the cart fields that say "this reward was applied" are
only a readable projection. The authoritative record is `loyaltyRewardSeal`: the reward's
values and an HMAC-SHA256 over them, the cart id and a version tag, under a key derived from
the secured `EXTENSION_SECRET`. Only the connector knows the key, so only the connector can
produce a seal that opens; the shopper can delete or replay one, never change one.

A seal is bound to one cart id: copying a seal onto another cart does not open. Replaying an
old seal on the same cart opens, which is why a reward that leaves a cart is cancelled in Yotpo
and recorded (a replayed code is then refused by the cancelled-codes check and, at the latest,
by the order-creation check). See docs/adr/0020-reward-state-trust-model.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

RewardKind = Literal["fixed", "percentage", "variable"]

SEAL_VERSION: Final = "v1"
# A seal is a few hundred characters; anything far longer is not ours and is not parsed.
MAX_SEAL_CHARS: Final = 2048
_KEY_LABEL: Final = b"yotpo-loyalty/reward-seal/v1"


@dataclass(frozen=True)
class AppliedReward:
    code: str
    amount: int
    option_id: str
    kind: RewardKind
    customer_id: str | None
    points: int | None = None
    percent_bp: int | None = None
    minimum: int = 0
    redemption_id: str | None = None
    currency: str = ""
    # Whether Yotpo deducts the points only when an order carrying the code arrives.
    delayed: bool = True
    # The full value of a fixed or variable reward in the cart currency; `amount` is what the
    # cart can take of it now (never more than the cart total).
    face: int = 0


def seal_key(secret: str) -> bytes:
    """The sealing key: derived from the extension secret, never the secret itself."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, cart_id: str, body: str) -> str:
    message = f"{SEAL_VERSION}\n{cart_id}\n{body}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def seal(reward: AppliedReward, cart_id: str, key: bytes) -> str:
    body = _b64(json.dumps(asdict(reward), sort_keys=True, separators=(",", ":")).encode())
    return f"{SEAL_VERSION}.{body}.{_mac(key, cart_id, body)}"


def unseal(text: Any, cart_id: str, key: bytes) -> AppliedReward | None:
    """The reward a seal holds, or None when the text is not a seal of this cart under `key`."""
    if not isinstance(text, str) or not key or len(text) > MAX_SEAL_CHARS:
        return None
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != SEAL_VERSION:
        return None
    _, body, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(key, cart_id, body).encode()):
        return None
    try:
        values = json.loads(_unb64(body))
        return AppliedReward(**values)
    except (ValueError, TypeError):
        # A valid MAC over a body we cannot read: written by another version; not trusted.
        return None
