"""`python -m sandbox.yotpo --port 8091 [--config file.json]`: serve the stand-in until stopped.

The config file is a `SandboxConfig` as JSON (`{"accounts": [{"guid", "api_key", "program"}]}`);
omitted program settings take the defaults of `default_program()`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

from pydantic import ValidationError

from sandbox.serving import ServerThread
from sandbox.yotpo.app import API_PREFIX, create_app
from sandbox.yotpo.engine import SandboxConfig, YotpoEngine, default_config
from shared.logs import configure_logging, log_event

logger = logging.getLogger("sandbox.yotpo")


def load_config(path: Path | None) -> SandboxConfig:
    if path is None:
        return default_config()
    return SandboxConfig.model_validate(json.loads(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.yotpo", description=__doc__)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, default=None, help="SandboxConfig JSON file")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        parser.error(f"cannot load {args.config}: {exc}")
    secrets = [a.api_key for a in config.accounts]
    secrets += [a.program.webhook_secret for a in config.accounts if a.program.webhook_secret]
    configure_logging("yotpo-sandbox", secrets=secrets)

    engine = YotpoEngine(config)
    server = ServerThread(create_app(engine), host=args.host, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    log_event(
        logger,
        "sandbox.yotpo.started",
        url=f"{server.url}{API_PREFIX}",
        accounts=[a.guid for a in config.accounts],
    )
    stop.wait()
    # Release hanging requests first so the server's threads can finish.
    engine.close()
    server.stop()
    log_event(logger, "sandbox.yotpo.stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
