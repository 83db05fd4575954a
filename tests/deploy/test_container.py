"""The container image and its gunicorn settings.

No Docker engine here: the Dockerfile is checked statically (parsed), the gunicorn config
module is imported with the environment Cloud Run would give it, and gunicorn is started for
real with it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import requests

from sandbox.processes import free_port
from tests.conftest import VALID_ENV

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"


# --- the Dockerfile, parsed ------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    parsed = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
    return parsed


def of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def test_base_image_is_python_311_slim():
    assert instructions()[0] == ("FROM", "python:3.11-slim")
    assert of("FROM") == ["python:3.11-slim"]  # one stage, nothing else pulled in


def test_the_apps_run_as_a_non_root_user():
    users = of("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    kinds = [kw for kw, _ in instructions()]
    assert kinds.index("USER") < kinds.index("CMD")
    # Nothing is installed or copied after dropping privileges (it would belong to the user).
    assert not {"RUN", "COPY", "ADD"} & set(kinds[len(kinds) - kinds[::-1].index("USER") :])


def test_only_the_runtime_requirements_are_installed():
    installs = [cmd for cmd in of("RUN") if "pip install" in cmd]
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    copied = [shlex.split(args)[:-1] for args in of("COPY")]
    sources = [src for srcs in copied for src in srcs if not src.startswith("--")]
    assert "requirements.txt" in sources
    assert not [s for s in sources if "dev" in s or s.startswith(("tests", "sandbox", "bench"))]


def test_every_copied_path_exists_and_is_in_the_build_context():
    for args in of("COPY"):
        for source in [s for s in shlex.split(args)[:-1] if not s.startswith("--")]:
            path = ROOT / source
            assert path.exists(), source
            assert not dockerignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_app_is_a_build_arg_and_an_env_and_chooses_the_wsgi_module():
    assert 'APP=""' in of("ARG")
    envs = " ".join(of("ENV"))
    assert "APP=${APP}" in envs
    assert "PORT=8080" in envs
    (cmd,) = of("CMD")
    assert cmd == 'exec gunicorn --config deploy/gunicorn.conf.py "${APP}.wsgi:app"'
    for app in ("service", "event", "job"):
        assert (ROOT / app / "wsgi.py").is_file()


@pytest.mark.parametrize(
    ("app", "ok"),
    [
        ("", True),
        ("service", True),
        ("event", True),
        ("job", True),
        ("worker", False),
        ("event;ls", False),
    ],
)
def test_the_build_rejects_an_unknown_app(app, ok):
    (check,) = [cmd for cmd in of("RUN") if "case" in cmd]
    # The same shell the build runs it with; ${APP} is the build arg.
    result = subprocess.run(["sh", "-c", check], env={"APP": app}, capture_output=True, text=True)
    assert (result.returncode == 0) is ok
    if not ok:
        assert "APP must be service, event or job" in result.stderr


# --- .dockerignore (Docker's rules: last matching pattern wins, a match covers subpaths) ----


def _pattern(text: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out + r"(?:/.*)?")


def dockerignored(path: str) -> bool:
    excluded = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        if _pattern(pattern).fullmatch(path):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        "sandbox/stack.py",
        "bench/load.py",
        ".run/demo.log",
        "requirements-dev.txt",
        "deploy/deploy.sh",
        "shared/__pycache__/x.pyc",
    ],
)
def test_the_build_context_leaves_out_what_the_image_does_not_need(path):
    assert dockerignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "shared/oidc.py",
        "event/wsgi.py",
        "service/app.py",
        "job/wsgi.py",
        "deploy/gunicorn.conf.py",
        "connect.yaml",
    ],
)
def test_the_build_context_keeps_what_the_image_needs(path):
    assert not dockerignored(path)


def test_the_apps_import_nothing_that_stays_out_of_the_image():
    code = [p for app in ("shared", "event", "service", "job") for p in (ROOT / app).rglob("*.py")]
    for path in code:
        text = path.read_text()
        for module in ("sandbox", "tests", "bench"):
            assert not re.search(rf"^\s*(from|import) {module}\b", text, re.M), (path, module)


# --- deploy/gunicorn.conf.py, imported as gunicorn does ---------------------------------------


def load_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for key in (
        "APP",
        "PORT",
        "HOST",
        "WEB_CONCURRENCY",
        "EVENT_DEADLINE_SECONDS",
        "EXTENSION_TIMEOUT_MS",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONFIG)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_event_answers_inside_pubsubs_ack_deadline(monkeypatch):
    conf = load_config(monkeypatch, APP="event")
    assert conf.wsgi_app == "event.wsgi:app"
    assert conf.bind == ["0.0.0.0:8080"]
    assert 8 < conf.timeout <= 10  # the app's own 8 s deadline, inside Pub/Sub's 10 s
    assert conf.graceful_timeout <= 9  # Cloud Run kills 10 s after SIGTERM
    assert conf.worker_class == "gthread" and conf.threads > 1
    assert conf.preload_app is True
    assert conf.control_socket_disable is True


@pytest.mark.parametrize(("deadline", "timeout"), [("3", 4), ("8", 9), ("9.5", 10), ("0.5", 1)])
def test_event_timeout_follows_its_deadline_setting(monkeypatch, deadline, timeout):
    assert load_config(monkeypatch, APP="event", EVENT_DEADLINE_SECONDS=deadline).timeout == timeout


@pytest.mark.parametrize(
    ("budget_ms", "timeout"), [(None, 2), ("2000", 2), ("2500", 2), ("5000", 5), ("800", 1)]
)
def test_service_timeout_stays_inside_the_extension_budget(monkeypatch, budget_ms, timeout):
    env = {"APP": "service"} | ({"EXTENSION_TIMEOUT_MS": budget_ms} if budget_ms else {})
    conf = load_config(monkeypatch, **env)
    assert conf.wsgi_app == "service.wsgi:app"
    assert conf.timeout == timeout
    assert conf.timeout * 1000 <= max(int(budget_ms or 2000), 1000)


def test_the_job_gets_thirty_minutes_in_one_synchronous_worker(monkeypatch):
    conf = load_config(monkeypatch, APP="job")
    assert conf.wsgi_app == "job.wsgi:app"
    assert conf.timeout == 30 * 60
    assert (conf.worker_class, conf.workers, conf.threads) == ("sync", 1, 1)


def test_port_host_and_workers_come_from_the_environment(monkeypatch):
    conf = load_config(
        monkeypatch, APP="service", PORT="9090", HOST="127.0.0.1", WEB_CONCURRENCY="3"
    )
    assert conf.bind == ["127.0.0.1:9090"]
    assert conf.workers == 3


def test_default_workers_follow_the_cpus_but_stay_small(monkeypatch):
    conf = load_config(monkeypatch, APP="event")
    assert 1 <= conf.workers <= 4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "APP must be one of service, event, job (got '')"),
        ({"APP": "worker"}, "APP must be one of service, event, job (got 'worker')"),
        ({"APP": "event", "PORT": "http"}, "PORT must be a number"),
        ({"APP": "event", "WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be at least 1"),
        ({"APP": "event", "EVENT_DEADLINE_SECONDS": "soon"}, "EVENT_DEADLINE_SECONDS must be"),
    ],
)
def test_a_bad_environment_stops_gunicorn_with_one_clear_line(monkeypatch, env, message):
    with pytest.raises(SystemExit) as caught:
        load_config(monkeypatch, **env)
    assert message in str(caught.value.code)


# --- gunicorn started for real with the config ------------------------------------------------


def start_gunicorn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(GUNICORN), "--config", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_gunicorn_serves_the_event_app_with_this_config_and_stops_on_sigterm():
    port = free_port()
    env = {
        **VALID_ENV,
        "APP": "event",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "OIDC_VERIFICATION": "off",
    }
    process = start_gunicorn(env)
    try:
        served = None
        for _ in range(150):
            try:
                served = requests.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        assert served == {"status": "ok", "app": "event"}
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    assert "Using worker: gthread" in output
    assert output.count("Booting worker") == 2


def test_a_configuration_error_stops_the_container_at_once():
    env = {"APP": "event", "HOST": "127.0.0.1", "PORT": str(free_port()), "CTP_PROJECT_KEY": "p"}
    process = start_gunicorn(env)
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 3  # shared.boot's "worker failed to boot" code
    assert "CTP_CLIENT_SECRET: missing" in output
    assert "Booting worker" not in output
