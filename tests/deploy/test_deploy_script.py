"""deploy/deploy.sh, run with --dry-run: the gcloud commands it would run, checked one by one.

The commands are parsed as the shell would (shlex), and every flag is checked against the
installed gcloud's own `--help` for that command, so a renamed or misspelt flag fails here
rather than in a merchant's first deployment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "deploy.sh"
PROJECT = "merchant-project"
REGION = "europe-west1"
INVOKER = f"yotpo-loyalty-invoker@{PROJECT}.iam.gserviceaccount.com"
RUNTIME = f"yotpo-loyalty-run@{PROJECT}.iam.gserviceaccount.com"
SECRETS = {
    "CTP_CLIENT_SECRET": "ctp-client-secret-DO-NOT-PRINT",
    "YOTPO_API_KEY": "yotpo-api-key-DO-NOT-PRINT",
    "EXTENSION_SECRET": "extension-secret-DO-NOT-PRINT",
}
INPUTS = {
    "CTP_PROJECT_KEY": "merchant-shop",
    "CTP_CLIENT_ID": "client-id",
    "CTP_SCOPE": "manage_project:merchant-shop",
    "CTP_REGION": "europe-west1.gcp",
    "YOTPO_GUID": "yotpo-guid",
    "YOTPO_CURRENCIES": "EUR,USD",
    "EARNING_TRIGGER": "shipped",
    **SECRETS,
}


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def dry_run(*extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_script(
        "--dry-run",
        "--project",
        PROJECT,
        "--region",
        REGION,
        "--image-tag",
        "test",
        *extra,
        **{**INPUTS, **env},
    )
    assert result.returncode == 0, result.stderr
    return result


def commands(output: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]


def flags(argv: list[str]) -> dict[str, str]:
    found = {}
    for arg in argv:
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            found[name] = value
    return found


def find(cmds: list[list[str]], *prefix: str) -> list[list[str]]:
    return [c for c in cmds if c[: len(prefix)] == list(prefix)]


def one(cmds: list[list[str]], *prefix: str) -> list[str]:
    (found,) = find(cmds, *prefix)
    return found


def env_files(text: str) -> dict[str, dict[str, str]]:
    """The printed --env-vars-file contents, by app."""
    files: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"^# .*/(\w+)\.env\.yaml:$", line)
        if header:
            current = files.setdefault(header.group(1), {})
        elif line.startswith("#   ") and current is not None:
            current.update(yaml.safe_load(line[4:]))
        else:
            current = None
    return files


@pytest.fixture(scope="module")
def deployment() -> subprocess.CompletedProcess[str]:
    return dry_run()


@pytest.fixture(scope="module")
def cmds(deployment) -> list[list[str]]:
    return commands(deployment.stdout)


def test_three_cloud_run_services_from_one_image(cmds):
    deploys = {c[3]: flags(c) for c in find(cmds, "gcloud", "run", "deploy")}
    assert set(deploys) == {"yotpo-loyalty-service", "yotpo-loyalty-event", "yotpo-loyalty-job"}
    images = {f["--image"] for f in deploys.values()}
    assert images == {f"{REGION}-docker.pkg.dev/{PROJECT}/yotpo-loyalty/connector:test"}
    for f in deploys.values():
        assert f["--service-account"] == RUNTIME
        assert f["--region"] == REGION
        assert int(f["--concurrency"]) >= 1
    # Only the checkout service is public (commercetools and Yotpo call it with a secret).
    assert "--allow-unauthenticated" in deploys["yotpo-loyalty-service"]
    assert "--no-allow-unauthenticated" in deploys["yotpo-loyalty-event"]
    assert "--no-allow-unauthenticated" in deploys["yotpo-loyalty-job"]
    assert deploys["yotpo-loyalty-event"]["--timeout"] == "10s"
    assert deploys["yotpo-loyalty-job"]["--timeout"] == "1800s"
    build = flags(one(cmds, "gcloud", "builds", "submit"))
    assert build["--tag"] == images.pop()


def test_each_app_gets_its_configuration_and_only_its_secrets(cmds, deployment):
    files = env_files(deployment.stdout + deployment.stderr)
    assert {app: f["APP"] for app, f in files.items()} == {
        "service": "service",
        "event": "event",
        "job": "job",
    }
    connect = yaml.safe_load((ROOT / "connect.yaml").read_text())
    for app in connect["deployAs"]:
        config = app["configuration"]
        standard = {c["key"] for c in config.get("standardConfiguration") or []}
        secured = {c["key"] for c in config.get("securedConfiguration") or []}
        env = files[app["name"]]
        assert not secured & set(env), "a secret in plain configuration"
        expected = {k: v for k, v in INPUTS.items() if k in standard}
        assert {k: env[k] for k in expected} == expected  # commas survive (YOTPO_CURRENCIES)
        deploy = flags(one(cmds, "gcloud", "run", "deploy", f"yotpo-loyalty-{app['name']}"))
        mounted = dict(pair.split("=", 1) for pair in deploy["--set-secrets"].split(","))
        assert set(mounted) == secured & set(INPUTS)
        for secret in mounted.values():
            assert secret.startswith("yotpo-loyalty-") and secret.endswith(":latest")


def test_secrets_go_to_secret_manager_and_are_never_printed(cmds, deployment):
    created = {c[3] for c in find(cmds, "gcloud", "secrets", "create")}
    assert created == {
        "yotpo-loyalty-ctp-client-secret",
        "yotpo-loyalty-yotpo-api-key",
        "yotpo-loyalty-extension-secret",
    }
    for c in find(cmds, "gcloud", "secrets", "create"):
        assert flags(c)["--data-file"] == "-"  # read from stdin, not from the command line
    readers = {c[3]: flags(c) for c in find(cmds, "gcloud", "secrets", "add-iam-policy-binding")}
    assert set(readers) == created
    assert all(f["--member"] == f"serviceAccount:{RUNTIME}" for f in readers.values())
    everything = deployment.stdout + deployment.stderr
    for value in SECRETS.values():
        assert value not in everything


def test_pubsub_pushes_to_the_event_app_with_oidc_and_a_dead_letter_topic(cmds, deployment):
    topic = one(cmds, "gcloud", "pubsub", "topics", "create", "yotpo-loyalty-events")
    assert topic
    publisher = flags(
        one(cmds, "gcloud", "pubsub", "topics", "add-iam-policy-binding", "yotpo-loyalty-events")
    )
    commercetools = "serviceAccount:subscriptions@commercetools-platform.iam.gserviceaccount.com"
    assert publisher["--member"] == commercetools
    assert publisher["--role"] == "roles/pubsub.publisher"

    push_subscription = "yotpo-loyalty-event-push"
    push = flags(one(cmds, "gcloud", "pubsub", "subscriptions", "create", push_subscription))
    assert push["--topic"] == "yotpo-loyalty-events"
    assert push["--push-endpoint"].startswith("https://")
    assert push["--push-endpoint"].endswith("/event")
    assert push["--push-auth-service-account"] == INVOKER
    event_env = env_files(deployment.stdout + deployment.stderr)["event"]
    assert push["--push-auth-token-audience"] == event_env["OIDC_AUDIENCE"]
    assert event_env["OIDC_SERVICE_ACCOUNT_EMAIL"] == INVOKER
    assert push["--ack-deadline"] == "10"
    assert push["--dead-letter-topic"] == "yotpo-loyalty-events-dead-letter"
    # The app dead-letters after MAX_DELIVERY_ATTEMPTS (10) itself; Pub/Sub's is the backstop.
    assert 10 < int(push["--max-delivery-attempts"]) <= 100
    assert find(cmds, "gcloud", "pubsub", "topics", "create", "yotpo-loyalty-events-dead-letter")

    agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    grants = {
        (c[2], c[4], flags(c)["--role"])
        for c in cmds
        if "add-iam-policy-binding" in c and flags(c).get("--member") == agent
    }
    assert grants == {
        ("service-accounts", INVOKER, "roles/iam.serviceAccountTokenCreator"),
        ("topics", "yotpo-loyalty-events-dead-letter", "roles/pubsub.publisher"),
        ("subscriptions", "yotpo-loyalty-event-push", "roles/pubsub.subscriber"),
    }
    invokers = {
        c[4]
        for c in find(cmds, "gcloud", "run", "services", "add-iam-policy-binding")
        if flags(c)["--member"] == f"serviceAccount:{INVOKER}"
        and flags(c)["--role"] == "roles/run.invoker"
    }
    assert invokers == {"yotpo-loyalty-event", "yotpo-loyalty-job"}
    deploys = {c[3]: flags(c) for c in find(cmds, "gcloud", "run", "deploy")}
    assert deploys["yotpo-loyalty-event"]["--set-custom-audiences"] == event_env["OIDC_AUDIENCE"]


def test_the_scheduler_calls_the_job_app_with_oidc_on_connects_schedule(cmds, deployment):
    job = one(cmds, "gcloud", "scheduler", "jobs", "create", "http", "yotpo-loyalty-job")
    f = flags(job)
    connect = yaml.safe_load((ROOT / "connect.yaml").read_text())
    (job_app,) = [a for a in connect["deployAs"] if a["name"] == "job"]
    assert f["--schedule"] == job_app["properties"]["schedule"]
    assert f["--uri"].endswith("/job")
    assert f["--http-method"] == "POST"
    assert f["--oidc-service-account-email"] == INVOKER
    job_env = env_files(deployment.stdout + deployment.stderr)["job"]
    assert f["--oidc-token-audience"] == job_env["OIDC_AUDIENCE"]
    assert job_env["OIDC_SERVICE_ACCOUNT_EMAIL"] == INVOKER
    assert f["--attempt-deadline"] == "30m"


def connect_scripts(kind: str) -> list[list[str]]:
    """connect.yaml's postDeploy / preUndeploy commands, app by app, as argv."""
    connect = yaml.safe_load((ROOT / "connect.yaml").read_text())
    apps = {app["name"]: app for app in connect["deployAs"]}
    return [
        shlex.split(apps[name]["scripts"][kind])
        for name in ("service", "event", "job")
        if kind in (apps[name].get("scripts") or {})
    ]


CONNECT_VARIABLES = {
    "service.install": {"CONNECT_SERVICE_URL"},
    "event.install": {"CONNECT_GCP_PROJECT_ID", "CONNECT_GCP_TOPIC_NAME"},
}


def test_the_install_scripts_run_last_with_the_connect_variables(cmds):
    scripts = [c for c in cmds if c[0] == "env"]
    expected = connect_scripts("postDeploy")
    assert [c[-3:] for c in scripts] == [argv[1:] for argv in expected]
    assert ["service.install", "post-deploy"] in [c[-2:] for c in scripts]
    assert ["event.install", "post-deploy"] in [c[-2:] for c in scripts]
    for script in scripts:
        variables = dict(a.split("=", 1) for a in script[1:] if "=" in a)
        assert set(variables) == CONNECT_VARIABLES.get(script[-2], set())
        if script[-2] == "service.install":
            assert variables["CONNECT_SERVICE_URL"].startswith("https://")
        if script[-2] == "event.install":
            assert variables == {
                "CONNECT_GCP_PROJECT_ID": PROJECT,
                "CONNECT_GCP_TOPIC_NAME": "yotpo-loyalty-events",
            }
    order = [" ".join(c[:5]) for c in cmds]
    # The commercetools Subscription is created once someone listens on the topic.
    push_created = order.index("gcloud pubsub subscriptions create yotpo-loyalty-event-push")
    assert order.index("gcloud run deploy yotpo-loyalty-event " + c_image(cmds)) < push_created
    assert push_created < min(cmds.index(s) for s in scripts)


def c_image(cmds: list[list[str]]) -> str:
    return one(cmds, "gcloud", "run", "deploy", "yotpo-loyalty-event")[4]


def test_options_change_names_schedule_and_build(deployment):
    result = dry_run("--prefix", "loyalty-eu", "--schedule", "30 3 * * *", "--skip-build")
    cmds = commands(result.stdout)
    assert not find(cmds, "gcloud", "builds", "submit")
    assert {c[3] for c in find(cmds, "gcloud", "run", "deploy")} == {
        "loyalty-eu-service",
        "loyalty-eu-event",
        "loyalty-eu-job",
    }
    assert (
        flags(one(cmds, "gcloud", "scheduler", "jobs", "create", "http", "loyalty-eu-job"))[
            "--schedule"
        ]
        == "30 3 * * *"
    )


def test_uninstall_removes_commercetools_resources_first_then_google_cloud_ones():
    result = dry_run("--uninstall")
    cmds = commands(result.stdout)
    undeploy = connect_scripts("preUndeploy")
    assert [c[-3:] for c in cmds[: len(undeploy)]] == [argv[1:] for argv in undeploy]
    assert ["-m", "event.install", "pre-undeploy"] in [argv[1:] for argv in undeploy]
    assert find(cmds, "gcloud", "scheduler", "jobs", "delete", "yotpo-loyalty-job")
    assert {c[4] for c in find(cmds, "gcloud", "pubsub", "subscriptions", "delete")} == {
        "yotpo-loyalty-event-push",
        "yotpo-loyalty-events-dead-letter",
    }
    assert {c[4] for c in find(cmds, "gcloud", "pubsub", "topics", "delete")} == {
        "yotpo-loyalty-events",
        "yotpo-loyalty-events-dead-letter",
    }
    assert {c[4] for c in find(cmds, "gcloud", "run", "services", "delete")} == {
        "yotpo-loyalty-service",
        "yotpo-loyalty-event",
        "yotpo-loyalty-job",
    }
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr


# --- inputs are validated before anything runs ------------------------------------------------


def test_missing_inputs_are_all_named_at_once():
    result = run_script("--dry-run")
    assert result.returncode == 2
    for expected in (
        "--project is required",
        "--region is required",
        "CTP_PROJECT_KEY is not set",
        "CTP_CLIENT_SECRET is not set",
        "EXTENSION_SECRET is not set",
        "set YOTPO_GUID and YOTPO_API_KEY",
    ):
        assert expected in result.stderr
    assert "+ gcloud" not in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--region", "europe west"], {}, "is not a Google Cloud region"),
        (["--project", "X"], {}, "is not a Google Cloud project id"),
        (["--prefix", "Loyalty_EU"], {}, "--prefix must be"),
        ([], {"YOTPO_API_KEY": ""}, "set YOTPO_GUID and YOTPO_API_KEY"),
        ([], {"CTP_SCOPE": ""}, "CTP_SCOPE is not set"),
        (["--frobnicate"], {}, "unknown option: --frobnicate"),
    ],
)
def test_bad_inputs_fail_clearly(args, env, message):
    base = ["--dry-run", "--project", PROJECT, "--region", REGION]
    result = run_script(*base, *args, **{**INPUTS, **env})
    assert result.returncode == 2
    assert message in result.stderr
    assert "+ gcloud" not in result.stdout


def test_yotpo_accounts_replaces_the_single_account_keys(cmds):
    env = {k: v for k, v in INPUTS.items() if k not in ("YOTPO_GUID", "YOTPO_API_KEY")}
    accounts = '{"default": {"guid": "g", "apiKey": "accounts-key-DO-NOT-PRINT"}}'
    result = run_script(
        "--dry-run", "--project", PROJECT, "--region", REGION, **env, YOTPO_ACCOUNTS=accounts
    )
    assert result.returncode == 0, result.stderr
    created = {c[3] for c in find(commands(result.stdout), "gcloud", "secrets", "create")}
    assert "yotpo-loyalty-yotpo-accounts" in created
    assert "accounts-key-DO-NOT-PRINT" not in result.stdout + result.stderr


def test_a_real_run_checks_that_the_install_scripts_can_run():
    result = run_script(
        "--project", PROJECT, "--region", REGION, **INPUTS, PYTHON="/nonexistent/python"
    )
    assert result.returncode == 2
    assert "/nonexistent/python cannot run the install scripts" in result.stderr


# --- every flag exists in the installed gcloud -------------------------------------------------


def command_path(argv: list[str]) -> tuple[str, ...]:
    """`gcloud run deploy NAME --x` -> ("run", "deploy"): words up to the first argument."""
    path = []
    for word in argv[1:]:
        if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        if PROJECT in word or word.startswith(("yotpo-loyalty", "loyalty-eu")):
            break
        path.append(word)
    return tuple(path)


@cache
def gcloud_flags(path: tuple[str, ...]) -> frozenset[str]:
    result = subprocess.run(
        ["gcloud", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PAGER": "cat"},
    )
    assert result.returncode == 0, f"gcloud {' '.join(path)}: {result.stderr[-500:]}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    return frozenset(re.findall(r"--[a-z][a-z0-9-]*", text))


def test_every_flag_used_exists_in_gcloud(deployment):
    uninstall = dry_run("--uninstall")
    used: dict[tuple[str, ...], set[str]] = {}
    for argv in commands(deployment.stdout) + commands(uninstall.stdout):
        if argv[0] == "gcloud":
            used.setdefault(command_path(argv), set()).update(flags(argv))
    assert ("run", "deploy") in used and ("scheduler", "jobs", "create", "http") in used
    with ThreadPoolExecutor(8) as pool:
        known = dict(zip(used, pool.map(gcloud_flags, used), strict=True))
    unknown = {path: sorted(f - known[path]) for path, f in used.items() if f - known[path]}
    assert unknown == {}


# --- a real run against a stand-in gcloud: the "already deployed" path -----------------------

FAKE_GCLOUD = r"""#!/usr/bin/env bash
# Records each call; every resource "exists"; answers the values deploy.sh reads.
printf '%q ' "$@" >> "$FAKE_LOG"; printf '\n' >> "$FAKE_LOG"
case " $* " in
  *" --data-file=- "*) cat > "$FAKE_STDIN/$(date +%s%N)" ;;
esac
case " $* " in
  *" run services describe "*"value(status.url)"*) echo "https://$4-abc123-ew.a.run.app" ;;
  *" projects describe "*) echo 123456789 ;;
  *" secrets versions access "*"ctp-client-secret"*) printf '%s' "$UNCHANGED_SECRET" ;;
  *" secrets versions access "*) printf 'an-older-value' ;;
esac
exit 0
"""

FAKE_PYTHON = r"""#!/usr/bin/env bash
printf '%s CONNECT_SERVICE_URL=%s CONNECT_GCP_PROJECT_ID=%s CONNECT_GCP_TOPIC_NAME=%s\n' \
  "$*" "${CONNECT_SERVICE_URL:-}" "${CONNECT_GCP_PROJECT_ID:-}" "${CONNECT_GCP_TOPIC_NAME:-}" \
  >> "$FAKE_PYTHON_LOG"
exit 0
"""


def test_a_second_deployment_updates_in_place_and_adds_only_changed_secrets(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(FAKE_GCLOUD)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    stdin_dir = tmp_path / "stdin"
    stdin_dir.mkdir()
    gcloud_log, python_log = tmp_path / "gcloud.log", tmp_path / "python.log"
    result = subprocess.run(
        ["bash", str(SCRIPT), "--project", PROJECT, "--region", REGION, "--image-tag", "t2"],
        cwd=ROOT,
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "PYTHON": str(bin_dir / "python"),
            "FAKE_LOG": str(gcloud_log),
            "FAKE_STDIN": str(stdin_dir),
            "FAKE_PYTHON_LOG": str(python_log),
            "UNCHANGED_SECRET": SECRETS["CTP_CLIENT_SECRET"],
            **INPUTS,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    calls = [shlex.split(line) for line in gcloud_log.read_text().splitlines()]

    # Everything exists: nothing is created again, the subscription and job are updated.
    assert not [c for c in calls if "create" in c[:4]]
    push = flags(one(calls, "pubsub", "subscriptions", "update", "yotpo-loyalty-event-push"))
    assert push["--push-auth-service-account"] == INVOKER
    assert push["--dead-letter-topic"] == "yotpo-loyalty-events-dead-letter"
    assert push["--push-endpoint"] == "https://yotpo-loyalty-event-abc123-ew.a.run.app/event"
    job = flags(one(calls, "scheduler", "jobs", "update", "http", "yotpo-loyalty-job"))
    assert job["--oidc-service-account-email"] == INVOKER
    assert job["--uri"] == "https://yotpo-loyalty-job-abc123-ew.a.run.app/job"

    # Only changed secrets get a new version, and their values travel on stdin only.
    added = {c[3] for c in find(calls, "secrets", "versions", "add")}
    assert added == {"yotpo-loyalty-yotpo-api-key", "yotpo-loyalty-extension-secret"}
    received = sorted(p.read_text() for p in stdin_dir.iterdir())
    assert received == sorted([SECRETS["YOTPO_API_KEY"], SECRETS["EXTENSION_SECRET"]])
    logged = gcloud_log.read_text() + result.stdout + result.stderr
    for value in SECRETS.values():
        assert value not in logged

    scripts = python_log.read_text().splitlines()
    scripts = [s for s in scripts if not s.startswith("-c ")]  # the import check
    assert [s.split(" CONNECT_")[0] for s in scripts] == [
        " ".join(argv[1:]) for argv in connect_scripts("postDeploy")
    ]
    service_line = next(s for s in scripts if s.startswith("-m service.install"))
    assert "CONNECT_SERVICE_URL=https://yotpo-loyalty-service-abc123-ew.a.run.app " in service_line
    event_line = next(s for s in scripts if s.startswith("-m event.install"))
    assert event_line.endswith(
        f"CONNECT_GCP_PROJECT_ID={PROJECT} CONNECT_GCP_TOPIC_NAME=yotpo-loyalty-events"
    )


YOTPO_TOPICS = (
    "swell/points/changed",
    "swell/tier/earned",
    "swell/tier/lost",
    "swell/tier/status/changed",
    "swell/point_redemption/cancellation_request",
)


def test_the_end_says_what_to_register_in_the_yotpo_admin(deployment):
    out = deployment.stdout
    steps = out[out.index("Now in the Yotpo admin") :]
    url = "https://yotpo-loyalty-service-HASH-uc.a.run.app"  # the dry run's stand-in URL
    assert f"Webhooks:            {url}/yotpo/webhooks" in steps
    assert f"Create Coupons URL:  {url}/yotpo/coupons" in steps
    assert f"Cancel Coupons URL:  {url}/yotpo/coupons/cancel" in steps
    assert all(topic in " ".join(steps.split()) for topic in YOTPO_TOPICS)
    assert "X-Yotpo-Webhook-Secret" in steps and "X-Api-Secret" in steps
    # Neither secret was given: say what is lost without them.
    assert "YOTPO_WEBHOOK_SECRET is not set" in steps
    assert "YOTPO_COUPON_SECRET is not set" in steps


def test_with_both_secrets_no_warning_and_no_value_printed():
    secrets = {
        "YOTPO_WEBHOOK_SECRET": "webhook-secret-DO-NOT-PRINT",
        "YOTPO_COUPON_SECRET": "coupon-secret-DO-NOT-PRINT",
    }
    result = dry_run(**secrets, YOTPO_WEBHOOK_SECRET_HEADER="X-Shop-Secret")
    steps = result.stdout[result.stdout.index("Now in the Yotpo admin") :]
    assert "is not set" not in steps and "X-Shop-Secret" in steps
    for value in secrets.values():
        assert value not in result.stdout and value not in result.stderr
