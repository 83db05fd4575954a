"""What the stand-ins' `python -m sandbox.<name>` entry points share: the `--port/--host/--config`
arguments, reading a JSON config file into its pydantic model, and serving an app until SIGINT or
SIGTERM (the stand-in's own `close()` first, so hanging requests are released before the
server's threads are joined).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sandbox.serving import ServerThread
from shared.logs import log_event

Config = TypeVar("Config", bound=BaseModel)


def config_parser(prog: str, description: str | None, port: int) -> argparse.ArgumentParser:
    """`--port` (default `port`), `--host` (loopback) and `--config` (a JSON file)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, default=None, help="SandboxConfig JSON file")
    return parser


def load_json_config(
    model: type[Config], path: Path | None, default: Callable[[], Config]
) -> Config:
    """The config in `path` (JSON validated as `model`), else `default()`."""
    if path is None:
        return default()
    return model.model_validate(json.loads(path.read_text()))


def parsed_config(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    load: Callable[[Path | None], Config],
) -> Config:
    """`load(args.config)`, or the parser's usage error (exit 2) naming the file and why."""
    try:
        return load(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        parser.error(f"cannot load {args.config}: {exc}")


def serve_until_stopped(
    app: Any,
    args: argparse.Namespace,
    *,
    logger: logging.Logger,
    event: str,
    close: Callable[[], None],
    started: Callable[[str], Mapping[str, Any]],
) -> int:
    """Serve `app` on `args.host:args.port` until SIGINT/SIGTERM; logs `<event>.started` with
    `started(url)`'s fields and `<event>.stopped`."""
    server = ServerThread(app, host=args.host, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    log_event(logger, f"{event}.started", **started(server.url))
    stop.wait()
    # Release hanging requests first so the server's threads can finish.
    close()
    server.stop()
    log_event(logger, f"{event}.stopped")
    return 0
