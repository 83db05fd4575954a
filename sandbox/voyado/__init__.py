"""A local stand-in for Voyado Engage (the contacts, receipts, points and reward-voucher subset
a loyalty connector uses), built from Voyado's public documentation; see README.md.
`python -m sandbox.voyado --port 8093 [--config file.json]`."""

from sandbox.voyado.app import create_app
from sandbox.voyado.config import (
    DEFAULT_API_KEY,
    DEFAULT_STORE,
    DEFAULT_TENANT,
    DEFAULT_WEBHOOK_SECRET,
    FaultConfig,
    LatencyConfig,
    RewardsModel,
    SandboxConfig,
    SilentAnswers,
    TenantConfig,
    default_config,
)
from sandbox.voyado.engine import VoyadoEngine
from sandbox.voyado.rewards import TOPIC_BALANCE, TOPIC_VOUCHER
from sandbox.voyado.state import ApiError
from sandbox.voyado.testing import FakeClock, VoyadoServer, receipt
from sandbox.voyado.webhooks import SvixDispatcher, sign, verify

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_STORE",
    "DEFAULT_TENANT",
    "DEFAULT_WEBHOOK_SECRET",
    "TOPIC_BALANCE",
    "TOPIC_VOUCHER",
    "ApiError",
    "FakeClock",
    "FaultConfig",
    "LatencyConfig",
    "RewardsModel",
    "SandboxConfig",
    "SilentAnswers",
    "SvixDispatcher",
    "TenantConfig",
    "VoyadoEngine",
    "VoyadoServer",
    "create_app",
    "default_config",
    "receipt",
    "sign",
    "verify",
]
