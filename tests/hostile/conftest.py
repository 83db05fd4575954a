"""The hostile-input suite: every endpoint of the three real apps, driven by hypothesis through
Flask's test clients against both stand-ins.

For every input the `Probe` records: the status; a 5xx; a crash (an exception that escaped the
app, which under gunicorn kills the request or the worker); a 2xx given to wrong credentials;
a leak in the answer (a secret the apps hold, a seeded customer's full email or phone that the
request did not carry, a stack trace, an upstream path naming the project); and, for every
non-2xx answer, whether commercetools' or Yotpo's state changed. The tally of the whole run is
written to `test-artifacts/hostile-report.json` and printed at the end of the session.
`test_under_gunicorn.py` adds the workers that died under the deployed gunicorn config.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from event.app import create_app as create_event_app
from event.settings import EventSettings
from job.app import create_app as create_job_app
from job.install import post_deploy as job_post_deploy
from job.settings import JobSettings
from service.app import create_app as create_service_app
from service.install import OWN_CART_TYPE_KEY
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS
from shared.install import ensure_type_fields
from shared.oidc import GoogleCerts
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.deploy.tokens import AUDIENCE, INVOKER, FakeCertsEndpoint, SigningKey
from tests.integration.world import GUID, PROJECT, World, start_world

# Bounded so the whole suite stays well under a minute on a shared machine.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "25"))
# Applied per test (not as a profile), so the rest of a `make test` run keeps its own settings.
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

EXTENSION_SECRET = "hostile-extension-secret-0123"
WEBHOOK_SECRET = "hostile-webhook-secret-0123"
POS_SECRET = "hostile-pos-secret-0123456789"
OTHER_POS_SECRET = "hostile-other-pos-secret-98765"
POS_KEYS = {
    "till-a": {"secret": POS_SECRET, "store": "store-a"},
    "till_b": {"secret": OTHER_POS_SECRET, "store": "store-b"},
}
SEEDED_EMAIL = "ada.hostile@example.com"
SEEDED_PHONE = "+4915122334455"
GOOGLE = SigningKey.generate("hostile-google")
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "hostile-report.json"


@dataclass
class Tally:
    inputs: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    workers_died: Counter[str] = field(default_factory=Counter)
    accepted_without_auth: Counter[str] = field(default_factory=Counter)
    leaks: Counter[str] = field(default_factory=Counter)
    changed_by_rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, endpoint: str, detail: str) -> None:
        getattr(self, kind)[endpoint] += 1
        if len(self.examples[f"{kind}:{endpoint}"]) < 3:
            self.examples[f"{kind}:{endpoint}"].append(detail[:300])

    def as_dict(self) -> dict[str, Any]:
        def total(counter: Counter[str]) -> dict[str, Any]:
            return {"total": sum(counter.values()), **dict(sorted(counter.items()))}

        return {
            "inputs_tried": total(self.inputs),
            "5xx": total(self.server_errors),
            "crashes": total(self.crashes),
            "workers_died": total(self.workers_died),
            "accepted_without_auth": total(self.accepted_without_auth),
            "leaks": total(self.leaks),
            "state_changed_by_rejected": total(self.changed_by_rejected),
            "examples": dict(self.examples),
        }


TALLY = Tally()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not sum(TALLY.inputs.values()):
        return
    report = TALLY.as_dict()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    terminalreporter.write_sep("-", "hostile input")
    for name in (
        "inputs_tried",
        "5xx",
        "crashes",
        "workers_died",
        "accepted_without_auth",
        "leaks",
        "state_changed_by_rejected",
    ):
        terminalreporter.write_line(f"{name}: {report[name]['total']}")
    terminalreporter.write_line(f"details: {REPORT}")


# --- the world ------------------------------------------------------------------------------
@dataclass
class Apps:
    world: World
    service: FlaskClient
    event: FlaskClient
    job: FlaskClient
    secrets: list[str]
    customer_id: str
    order_number: str

    def snapshot(self) -> Any:
        resources = self.world.ct_state.snapshot(include_resources=True)["resources"]
        return json.dumps(
            {"ct": resources, "yotpo": self.world.yotpo.state()}, sort_keys=True, default=str
        )


def _seed(world: World) -> tuple[str, str]:
    ensure_type_fields(
        world.ct,
        key=OWN_CART_TYPE_KEY,
        name="Loyalty (Yotpo) cart and order fields",
        resource_type_ids=["order"],
        definitions=CART_FIELD_DEFINITIONS,
    )
    shop = world.storefront
    customer = world.ct.create(
        "customers",
        {
            "email": SEEDED_EMAIL,
            "firstName": "Ada",
            "lastName": "<img src=x onerror=alert(1)>",
            "addresses": [{"key": "home", "country": "DE", "phone": "0151 22334455"}],
        },
    )["customer"]
    world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": SEEDED_EMAIL})
    world.yotpo.adjust_points(
        GUID, {"customer_id": customer["id"], "point_adjustment_amount": 20_000}
    )
    order = shop.place_order(shop.cart([("SKU-MUG", 1)], customer=customer), order_number="H-1")
    shop.pay(order)
    return customer["id"], "H-1"


@pytest.fixture(scope="session")
def apps() -> Iterator[Apps]:
    world = start_world()
    try:
        customer_id, order_number = _seed(world)
        env = {
            **world.env,
            "EXTENSION_SECRET": EXTENSION_SECRET,
            "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "POS_API_KEYS": json.dumps(POS_KEYS),
            # Limits high enough that inputs reach the handlers; the limits have own tests.
            "POS_LOOKUPS_PER_SECOND": "1000",
            "POS_REDEMPTIONS_PER_SECOND": "100",
            "POS_FAILED_AUTH_PER_MINUTE": "10000",
            "OIDC_AUDIENCE": AUDIENCE,
            "OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER,
            "OIDC_VERIFICATION": "on",
        }
        certs = GoogleCerts(FakeCertsEndpoint([GOOGLE]))
        service_settings = load_settings(ServiceSettings, env)
        service = create_service_app(service_settings, build_runtime(service_settings))
        event_settings = load_settings(EventSettings, env)
        event = create_event_app(event_settings, oidc_certs=certs)
        job_settings = load_settings(JobSettings, env)
        # What the job's post-deploy script installs (the customer type the write-back uses).
        job_post_deploy(world.ct, env, job_settings)
        job = create_job_app(job_settings, oidc_certs=certs)
        secrets = [
            EXTENSION_SECRET,
            WEBHOOK_SECRET,
            POS_SECRET,
            OTHER_POS_SECRET,
            world.env["CTP_CLIENT_SECRET"],
            world.env["YOTPO_API_KEY"],
        ]
        yield Apps(
            world,
            service.test_client(),
            event.test_client(),
            job.test_client(),
            secrets,
            customer_id,
            order_number,
        )
    finally:
        world.close()


def oidc_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {GOOGLE.mint()}"}


_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"/")


@dataclass
class Probe:
    """Send one input to one endpoint and record what the answer shows."""

    apps: Apps
    endpoint: str

    def send(
        self,
        client: FlaskClient,
        method: str,
        path: str,
        *,
        authorized: bool = True,
        check_state: bool = True,
        **kwargs: Any,
    ) -> Any:
        TALLY.inputs[self.endpoint] += 1
        before = self.apps.snapshot() if check_state else None
        request_text = repr((path, kwargs))
        try:
            response = client.open(path, method=method, **kwargs)
        except Exception as exc:  # the app let it escape: a dead request under gunicorn
            TALLY.note("crashes", self.endpoint, f"{type(exc).__name__}: {exc} <- {request_text}")
            raise AssertionError(f"{self.endpoint}: {type(exc).__name__} escaped") from exc
        body = response.get_data(as_text=True)
        status = response.status_code
        problems = []
        if status >= 500 and status != 503:
            TALLY.note("server_errors", self.endpoint, f"{status} {body[:120]} <- {request_text}")
            problems.append(f"{status}")
        if not authorized and status < 400:
            TALLY.note("accepted_without_auth", self.endpoint, f"{status} <- {request_text}")
            problems.append("accepted without auth")
        leak = self._leak(body + json.dumps(dict(response.headers)), request_text)
        if leak:
            TALLY.note("leaks", self.endpoint, f"{leak} in {body[:160]} <- {request_text}")
            problems.append(f"leak: {leak}")
        if before is not None and status >= 400 and self.apps.snapshot() != before:
            TALLY.note(
                "changed_by_rejected", self.endpoint, f"{status} {body[:120]} <- {request_text}"
            )
            problems.append("state changed by a rejected request")
        assert not problems, f"{self.endpoint} {method} {path}: {problems}; answer {body[:300]}"
        return response

    def _leak(self, answer: str, request_text: str) -> str | None:
        for secret in self.apps.secrets:
            if secret in answer:
                return "a secret"
        for personal in (SEEDED_EMAIL, SEEDED_PHONE, "0151 22334455"):
            if personal in answer and personal not in request_text:
                return "personal data"
        if _TRACE.search(answer):
            return "a stack trace"
        if f"/{PROJECT}/" in answer:
            return "an upstream path with the project key"
        return None


@pytest.fixture
def probe(apps: Apps) -> Any:
    def make(endpoint: str) -> Probe:
        return Probe(apps, endpoint)

    return make
