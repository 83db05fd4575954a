"""`python -m sandbox.voyado --port 8093 [--config file.json]`: serve the stand-in until stopped.

The config file is a `SandboxConfig` as JSON (`{"tenants": [{"name", "api_keys", ...}]}`).
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
from sandbox.voyado.app import create_app
from sandbox.voyado.config import SandboxConfig, default_config
from sandbox.voyado.engine import VoyadoEngine
from shared.logs import configure_logging, log_event

logger = logging.getLogger("sandbox.voyado")


def load_config(path: Path | None) -> SandboxConfig:
    if path is None:
        return default_config()
    return SandboxConfig.model_validate(json.loads(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.voyado", description=__doc__)
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, default=None, help="SandboxConfig JSON file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        parser.error(f"cannot load {args.config}: {exc}")
    secrets = [k for t in config.tenants for k in t.api_keys]
    secrets += [t.webhook_secret for t in config.tenants]
    configure_logging("voyado-sandbox", secrets=secrets)

    engine = VoyadoEngine(config)
    server = ServerThread(create_app(engine), host=args.host, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    log_event(
        logger, "sandbox.voyado.started", url=server.url, tenants=[t.name for t in config.tenants]
    )
    stop.wait()
    engine.close()
    server.stop()
    log_event(logger, "sandbox.voyado.stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
