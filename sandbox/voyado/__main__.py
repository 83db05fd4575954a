"""`python -m sandbox.voyado --port 8093 [--config file.json]`: serve the stand-in until stopped.

The config file is a `SandboxConfig` as JSON (`{"tenants": [{"name", "api_keys", ...}]}`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sandbox.cli import config_parser, load_json_config, parsed_config, serve_until_stopped
from sandbox.voyado.app import create_app
from sandbox.voyado.config import SandboxConfig, default_config
from sandbox.voyado.engine import VoyadoEngine
from shared.logs import configure_logging

logger = logging.getLogger("sandbox.voyado")


def load_config(path: Path | None) -> SandboxConfig:
    return load_json_config(SandboxConfig, path, default_config)


def main(argv: list[str] | None = None) -> int:
    parser = config_parser("python -m sandbox.voyado", __doc__, port=8093)
    args = parser.parse_args(argv)
    config = parsed_config(parser, args, load_config)
    secrets = [k for t in config.tenants for k in t.api_keys]
    secrets += [t.webhook_secret for t in config.tenants]
    configure_logging("voyado-sandbox", secrets=secrets)

    engine = VoyadoEngine(config)
    return serve_until_stopped(
        create_app(engine),
        args,
        logger=logger,
        event="sandbox.voyado",
        close=engine.close,
        started=lambda url: {"url": url, "tenants": [t.name for t in config.tenants]},
    )


if __name__ == "__main__":
    raise SystemExit(main())
