"""A local stand-in for the Yotpo Loyalty API (the subset the connector speaks), for `make run`,
end-to-end tests and benchmarks. `python -m sandbox.yotpo --port 8091 [--config file.json]`."""

from sandbox.yotpo.app import API_PREFIX, REDEMPTION_CANCEL_PATH, create_app
from sandbox.yotpo.engine import (
    DEFAULT_API_KEY,
    DEFAULT_GUID,
    AccountConfig,
    ApiError,
    FaultConfig,
    ProgramConfig,
    SandboxConfig,
    YotpoEngine,
    default_config,
    default_program,
)
from sandbox.yotpo.webhooks import WEBHOOK_SECRET_HEADER, Webhook, WebhookDispatcher

__all__ = [
    "API_PREFIX",
    "DEFAULT_API_KEY",
    "DEFAULT_GUID",
    "REDEMPTION_CANCEL_PATH",
    "WEBHOOK_SECRET_HEADER",
    "AccountConfig",
    "ApiError",
    "FaultConfig",
    "ProgramConfig",
    "SandboxConfig",
    "Webhook",
    "WebhookDispatcher",
    "YotpoEngine",
    "create_app",
    "default_config",
    "default_program",
]
