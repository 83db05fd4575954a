"""Settings of the in-store loyalty API: the POS clients' keys, rate limits and sale cap.

`InStoreSettings` is a mixin: the service app's settings class inherits it, so the keys are
read, validated and reported (never their values) with every other setting at start-up.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import json_object_setting

# Key ids become part of custom object keys and transaction interaction ids; commercetools
# custom object keys allow `[-_~.a-zA-Z0-9]`
# (https://docs.commercetools.com/api/projects/custom-objects#customobject). Dashes are allowed
# ("till-1"); `replays.request_key` keeps "<key id>-<request id>" unambiguous by using another
# separator for ids that contain one.
KEY_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
STORE_KEY_PATTERN = r"^[A-Za-z0-9_\-]{2,256}$"
MIN_SECRET_LENGTH = 16
_KEYS_SHAPE = 'a JSON object: {"<key id>": {"secret": ..., "store": ...}}'


class PosKey(BaseModel):
    """One POS client (a store's terminals): its bearer secret and the store it acts for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: SecretStr
    store: str = Field(pattern=STORE_KEY_PATTERN)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value


def parse_pos_keys(raw: str) -> dict[str, PosKey]:
    """`{"<key id>": {"secret", "store"}}` → keys by id; ValueError names every problem."""
    data = json_object_setting(raw, shape=_KEYS_SHAPE)
    keys: dict[str, PosKey] = {}
    problems: list[str] = []
    for key_id, value in data.items():
        if not re.match(KEY_ID_PATTERN, str(key_id)):
            problems.append(f"{key_id!r}: key ids are 1-64 of A-Z a-z 0-9 _ -")
            continue
        try:
            keys[str(key_id)] = PosKey.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                where = ".".join(str(p) for p in err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{key_id}{'.' + where if where else ''}: {message}")
    secrets = [k.secret.get_secret_value() for k in keys.values()]
    if len(set(secrets)) != len(secrets):
        # A secret must name exactly one key: it decides the store a request acts for.
        problems.append("two keys share one secret")
    if problems:
        raise ValueError("; ".join(problems))
    return keys


class InStoreSettings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    pos_api_keys: SecretStr | None = Field(
        default=None,
        description=(
            'In-store loyalty API keys as JSON: {"<key id>": {"secret": "...", '
            '"store": "<store key>"}}; unset disables the API'
        ),
    )
    pos_lookups_per_second: float = Field(
        default=10.0,
        gt=0,
        le=1000,
        description=(
            "Customer, reward and order lookups allowed per second and POS key, per instance "
            "(shared by the instance's workers)"
        ),
    )
    pos_redemptions_per_second: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description=(
            "Redemptions and reversals allowed per second and POS key, per instance (each "
            "costs several Yotpo calls)"
        ),
    )
    pos_failed_auth_per_minute: float = Field(
        default=30.0,
        gt=0,
        le=10_000,
        description=(
            "Failed in-store authentications allowed per minute and client address, per "
            "instance; beyond it the address gets 429 until it slows down"
        ),
    )
    pos_max_order_minor: int = Field(
        default=10_000_000,
        gt=0,
        le=10**15,
        description=(
            "Largest in-store sale POST /loyalty/orders accepts, in minor units of the sale's "
            "currency (default 10,000,000: 100,000.00 EUR)"
        ),
    )

    @field_validator("pos_api_keys")
    @classmethod
    def _valid_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_pos_keys(value.get_secret_value())
        return value

    def pos_keys(self) -> dict[str, PosKey]:
        if self.pos_api_keys is None:
            return {}
        return parse_pos_keys(self.pos_api_keys.get_secret_value())

    def pos_secret_values(self) -> list[str]:
        """Each key's secret, for the log scrubber (the JSON as a whole is redacted anyway)."""
        return [k.secret.get_secret_value() for k in self.pos_keys().values()]
