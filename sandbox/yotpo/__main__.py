"""`python -m sandbox.yotpo --port 8091 [--config file.json]`: serve the stand-in until stopped.

The config file is a `SandboxConfig` as JSON (`{"accounts": [{"guid", "api_key", "program"}]}`);
omitted program settings take the defaults of `default_program()`.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from sandbox.cli import config_parser, load_json_config, parsed_config, serve_until_stopped
from sandbox.yotpo.app import API_PREFIX, create_app
from sandbox.yotpo.engine import SandboxConfig, YotpoEngine, default_config
from shared.logs import configure_logging

logger = logging.getLogger("sandbox.yotpo")


def load_config(path: Path | None) -> SandboxConfig:
    return load_json_config(SandboxConfig, path, default_config)


def main(argv: list[str] | None = None) -> int:
    parser = config_parser("python -m sandbox.yotpo", __doc__, port=8091)
    args = parser.parse_args(argv)
    config = parsed_config(parser, args, load_config)
    secrets = [a.api_key for a in config.accounts]
    secrets += [a.program.webhook_secret for a in config.accounts if a.program.webhook_secret]
    configure_logging("yotpo-sandbox", secrets=secrets)

    engine = YotpoEngine(config)
    app = create_app(engine)
    # Everything built so far lives as long as the process: moved out of the collector's
    # generations, a collection no longer walks it, so its pauses stay out of the time the
    # bench counts as Yotpo's (https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.collect()
    gc.freeze()
    return serve_until_stopped(
        app,
        args,
        logger=logger,
        event="sandbox.yotpo",
        close=engine.close,
        started=lambda url: {
            "url": f"{url}{API_PREFIX}",
            "accounts": [a.guid for a in config.accounts],
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
