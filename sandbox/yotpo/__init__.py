"""A local stand-in for the Yotpo Loyalty API (the subset the connector speaks), for `make run`,
end-to-end tests and benchmarks. `python -m sandbox.yotpo --port 8091 [--config file.json]`."""

from sandbox.yotpo.app import API_PREFIX, REDEMPTION_CANCEL_PATH, create_app, register_extension
from sandbox.yotpo.engine import (
    DEFAULT_API_KEY,
    DEFAULT_GUID,
    SILENT_PROFILES,
    AccountConfig,
    ApiError,
    FaultConfig,
    ProgramConfig,
    SandboxConfig,
    SilentCases,
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
    "SILENT_PROFILES",
    "WEBHOOK_SECRET_HEADER",
    "AccountConfig",
    "ApiError",
    "FaultConfig",
    "ProgramConfig",
    "SandboxConfig",
    "SilentCases",
    "Webhook",
    "WebhookDispatcher",
    "YotpoEngine",
    "create_app",
    "default_config",
    "default_program",
    "register_extension",
]
