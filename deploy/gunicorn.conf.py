"""gunicorn settings of the three apps: `gunicorn --config deploy/gunicorn.conf.py <app>.wsgi:app`.

Everything comes from the environment, as on Cloud Run:

- `APP` (required): `service`, `event` or `job` — which app this process serves.
- `PORT` (default 8080) and `HOST` (default 0.0.0.0: Cloud Run reaches the container from
  outside it; local runs and tests set 127.0.0.1).
- `WEB_CONCURRENCY`: worker processes (default: one per CPU, at most 4, for service and
  event; one for the job).
- The apps' own budgets size the timeouts: `EVENT_DEADLINE_SECONDS` (event, default 8) and
  `EXTENSION_TIMEOUT_MS` (service, default 2000).

Timeouts, app by app:

- event: Pub/Sub push waits 10 s for an answer, then redelivers. The app answers within
  `EVENT_DEADLINE_SECONDS`; gunicorn's timeout is one second more, never above 10 s.
- service: commercetools gives an API Extension `EXTENSION_TIMEOUT_MS`; after that the
  cart update fails whatever we answer, so the timeout stays inside it.
- job: a scheduled run may take up to 30 minutes (Connect's job limit).

The service and event apps use threaded workers: they wait on commercetools and Yotpo, not
on the CPU. For threaded workers gunicorn's `timeout` recycles a worker that stops answering
its arbiter; each request is bounded by the app's own budget and by Cloud Run's request
timeout (deploy/deploy.sh sets the same figures). The job uses one synchronous worker, for
which `timeout` bounds the run itself. The app is loaded before forking (`preload_app`), so
a slow cold start never counts against a short worker timeout and a configuration error
stops the container at once instead of failing worker after worker.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import Any

APPS = ("service", "event", "job")
PUBSUB_ACK_DEADLINE_SECONDS = 10
JOB_TIMEOUT_SECONDS = 30 * 60
# Cloud Run sends SIGTERM, then SIGKILL 10 s later: in-flight requests get this long.
CLOUD_RUN_SHUTDOWN_SECONDS = 9
THREADS = {"service": 8, "event": 8, "job": 1}
MAX_DEFAULT_WORKERS = 4


class ConfigError(SystemExit):
    """Stops gunicorn with one readable line (gunicorn prints other exceptions as tracebacks)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"deploy/gunicorn.conf.py: {message}")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g} (got {raw!r})")
    return value


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def request_timeout(app: str, env: Mapping[str, str]) -> int:
    """Seconds one request of `app` may take, inside what its caller waits."""
    if app == "event":
        deadline = _number(env, "EVENT_DEADLINE_SECONDS", 8.0, minimum=0.1)
        return min(PUBSUB_ACK_DEADLINE_SECONDS, math.floor(deadline) + 1)
    if app == "service":
        budget_ms = _number(env, "EXTENSION_TIMEOUT_MS", 2000, minimum=1)
        return max(1, math.floor(budget_ms / 1000))
    return JOB_TIMEOUT_SECONDS


def settings_for(env: Mapping[str, str]) -> dict[str, Any]:
    """gunicorn's settings for the environment `env` (the module applies os.environ)."""
    app = env.get("APP", "").strip()
    if app not in APPS:
        raise ConfigError(f"APP must be one of {', '.join(APPS)} (got {app!r})")
    port = int(_number(env, "PORT", 8080, minimum=1))
    default_workers = 1 if app == "job" else min(_cpus(), MAX_DEFAULT_WORKERS)
    workers = int(_number(env, "WEB_CONCURRENCY", default_workers, minimum=1))
    timeout = request_timeout(app, env)
    level = env.get("LOG_LEVEL", "INFO").strip().lower()
    return {
        "wsgi_app": f"{app}.wsgi:app",
        "proc_name": f"yotpo-loyalty-{app}",
        "bind": [f"{env.get('HOST', '0.0.0.0').strip() or '0.0.0.0'}:{port}"],
        "workers": workers,
        "worker_class": "sync" if app == "job" else "gthread",
        "threads": THREADS[app],
        "timeout": timeout,
        "graceful_timeout": min(timeout, CLOUD_RUN_SHUTDOWN_SECONDS),
        "preload_app": True,
        # The apps log every request themselves, as structured JSON; gunicorn's own lines
        # (start, stop, worker trouble) go to stderr.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": level if level in {"debug", "info", "warning", "error"} else "info",
        # Cloud Run's front end terminates TLS and sets X-Forwarded-*.
        "forwarded_allow_ips": "*",
        # The heartbeat file on tmpfs: a container's disk may be slow or read-only.
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        # gunicorn's control socket lives under $HOME, which the container user does not
        # have, and two instances on one machine would fight over it. Nothing uses it.
        "control_socket_disable": True,
    }


_settings = settings_for(os.environ)
# The app is loaded after this file (preload): it reads how many workers share its in-process
# rate limits from here (service/instore/access.py worker_count). Only when gunicorn itself
# reads this file: importing it elsewhere (a test) must not change that process's environment.
# (`gunicorn` the console script, or `python -m gunicorn`: .../gunicorn/__main__.py)
if "gunicorn" in os.path.normpath(sys.argv[0] if sys.argv else "").split(os.sep)[-2:]:
    os.environ["WEB_CONCURRENCY"] = str(_settings["workers"])
wsgi_app = _settings["wsgi_app"]
proc_name = _settings["proc_name"]
bind = _settings["bind"]
workers = _settings["workers"]
worker_class = _settings["worker_class"]
threads = _settings["threads"]
timeout = _settings["timeout"]
graceful_timeout = _settings["graceful_timeout"]
preload_app = _settings["preload_app"]
accesslog = _settings["accesslog"]
errorlog = _settings["errorlog"]
loglevel = _settings["loglevel"]
forwarded_allow_ips = _settings["forwarded_allow_ips"]
worker_tmp_dir = _settings["worker_tmp_dir"]
control_socket_disable = _settings["control_socket_disable"]
