"""The post-deploy / pre-undeploy scripts against the commercetools stand-in.

They run after every deployment, so running them again must change nothing, and a changed
deployment (a new topic, a new service URL, a connector release handling more messages) must
update the existing Subscription or API Extension in place: deleting and recreating it would
leave live carts or messages without it for a while.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from event import install as event_install
from event.routing import HANDLED_MESSAGE_TYPES
from service import install as service_install
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS
from shared.install import InstallError
from shared.settings import load_settings
from tests.integration.world import World

ROOT = Path(__file__).resolve().parents[2]
EVENT_ENV = {"CONNECT_GCP_PROJECT_ID": "merchant-gcp", "CONNECT_GCP_TOPIC_NAME": "ct-loyalty"}
SERVICE_URL = "https://yotpo-loyalty-service-abc123-ew.a.run.app"
EXTENSION_SECRET = "extension-secret-for-tests"


def subscription(world: World) -> dict[str, Any]:
    return world.ct.get_by_key("subscriptions", event_install.SUBSCRIPTION_KEY)


def extension(world: World) -> dict[str, Any]:
    return world.ct.get_by_key("extensions", service_install.EXTENSION_KEY)


def service_settings(world: World, **env: str) -> ServiceSettings:
    env = {**world.env, "EXTENSION_SECRET": EXTENSION_SECRET, **env}
    return load_settings(ServiceSettings, env)


def install_service(world: World, url: str = SERVICE_URL, **env: str) -> dict[str, str]:
    return service_install.post_deploy(
        world.ct, {"CONNECT_SERVICE_URL": url}, service_settings(world, **env)
    )


def messages_of(resource: dict[str, Any]) -> dict[str, set[str]]:
    return {m["resourceTypeId"]: set(m["types"]) for m in resource["messages"]}


# --- event: the Subscription ------------------------------------------------------------------


def test_the_subscription_is_created_with_the_one_message_list_then_left_alone(world):
    assert event_install.post_deploy(world.ct, EVENT_ENV) == "created"
    created = subscription(world)
    assert created["destination"] == {
        "type": "GoogleCloudPubSub",
        "projectId": "merchant-gcp",
        "topic": "ct-loyalty",
    }
    assert messages_of(created) == {k: set(v) for k, v in HANDLED_MESSAGE_TYPES.items()}

    assert event_install.post_deploy(world.ct, EVENT_ENV) == "unchanged"
    again = subscription(world)
    assert (again["id"], again["version"]) == (created["id"], created["version"])


def test_a_new_topic_moves_the_subscription_in_place(world):
    event_install.post_deploy(world.ct, EVENT_ENV)
    before = subscription(world)
    moved = {**EVENT_ENV, "CONNECT_GCP_TOPIC_NAME": "ct-loyalty-v2"}
    assert event_install.post_deploy(world.ct, moved) == "updated"
    after = subscription(world)
    assert after["id"] == before["id"]
    assert after["version"] == before["version"] + 1
    assert after["destination"]["topic"] == "ct-loyalty-v2"
    assert messages_of(after) == messages_of(before)
    assert event_install.post_deploy(world.ct, moved) == "unchanged"


def test_a_subscription_from_an_older_release_gets_the_current_message_list(world):
    event_install.post_deploy(world.ct, EVENT_ENV)
    older = subscription(world)
    # An earlier release listened to orders only, and to fewer of their messages.
    world.ct.update_by_key(
        "subscriptions",
        event_install.SUBSCRIPTION_KEY,
        older["version"],
        [
            {
                "action": "setMessages",
                "messages": [{"resourceTypeId": "order", "types": ["OrderCreated"]}],
            }
        ],
    )
    assert event_install.post_deploy(world.ct, EVENT_ENV) == "updated"
    current = subscription(world)
    assert current["id"] == older["id"]
    assert current["version"] == older["version"] + 2
    assert messages_of(current) == {k: set(v) for k, v in HANDLED_MESSAGE_TYPES.items()}


def test_a_release_handling_more_messages_extends_the_subscription_in_place(world, monkeypatch):
    event_install.post_deploy(world.ct, EVENT_ENV)
    before = subscription(world)
    more = {**HANDLED_MESSAGE_TYPES, "order": HANDLED_MESSAGE_TYPES["order"] | {"OrderEdited"}}
    monkeypatch.setattr(event_install, "HANDLED_MESSAGE_TYPES", more)
    assert event_install.post_deploy(world.ct, EVENT_ENV) == "updated"
    after = subscription(world)
    assert (after["id"], after["version"]) == (before["id"], before["version"] + 1)
    assert "OrderEdited" in messages_of(after)["order"]


def test_the_order_of_message_types_is_not_a_change(world):
    event_install.post_deploy(world.ct, EVENT_ENV)
    current = subscription(world)
    shuffled = [
        {"resourceTypeId": m["resourceTypeId"], "types": list(reversed(m["types"]))}
        for m in reversed(current["messages"])
    ]
    world.ct.update_by_key(
        "subscriptions",
        event_install.SUBSCRIPTION_KEY,
        current["version"],
        [{"action": "setMessages", "messages": shuffled}],
    )
    assert event_install.post_deploy(world.ct, EVENT_ENV) == "unchanged"


def test_pre_undeploy_removes_the_subscription_and_can_run_again(world):
    event_install.post_deploy(world.ct, EVENT_ENV)
    assert event_install.pre_undeploy(world.ct, EVENT_ENV) == "removed"
    assert world.ct.query("subscriptions", limit=10)["results"] == []
    assert event_install.pre_undeploy(world.ct, EVENT_ENV) == "absent"


@pytest.mark.parametrize("missing", sorted(EVENT_ENV))
def test_the_event_script_names_a_missing_connect_variable(world, missing):
    env = {k: v for k, v in EVENT_ENV.items() if k != missing}
    with pytest.raises(InstallError, match=missing):
        event_install.post_deploy(world.ct, env)
    assert world.ct.query("subscriptions", limit=10)["results"] == []


# --- service: the API Extension and the cart fields -------------------------------------------


def test_the_extension_and_cart_fields_are_created_then_left_alone(world):
    assert install_service(world) == {"type": "created", "extension": "created"}
    created = extension(world)
    assert created["destination"]["url"] == SERVICE_URL + "/service"
    assert created["destination"]["authentication"]["type"] == "AuthorizationHeader"
    # commercetools masks the value on read; the stand-in does too.
    assert EXTENSION_SECRET not in created["destination"]["authentication"]["headerValue"]
    carts, orders = created["triggers"]
    assert carts["resourceTypeId"] == "cart"
    assert carts["condition"] == service_install.TRIGGER_CONDITION
    assert (orders["resourceTypeId"], orders["actions"]) == ("order", ["Create"])
    assert orders["condition"] == service_install.ORDER_TRIGGER_CONDITION
    assert "dependencies" not in created
    assert created["timeoutInMs"] == 2000
    fields = world.ct.get_by_key("types", service_install.OWN_CART_TYPE_KEY)["fieldDefinitions"]
    assert {f["name"] for f in fields} == {d["name"] for d in CART_FIELD_DEFINITIONS}

    assert install_service(world) == {"type": "unchanged", "extension": "unchanged"}
    again = extension(world)
    assert (again["id"], again["version"]) == (created["id"], created["version"])


def test_connect_style_urls_with_the_endpoint_path_are_not_doubled(world):
    install_service(world, url=SERVICE_URL + "/service")
    assert extension(world)["destination"]["url"] == SERVICE_URL + "/service"
    assert install_service(world, url=SERVICE_URL + "/")["extension"] == "unchanged"


def test_a_new_service_url_moves_the_extension_in_place(world):
    install_service(world)
    before = extension(world)
    moved = "https://yotpo-loyalty-service-xyz789-uc.a.run.app"
    assert install_service(world, url=moved)["extension"] == "updated"
    after = extension(world)
    assert after["id"] == before["id"]
    assert after["version"] == before["version"] + 1
    assert after["destination"]["url"] == moved + "/service"
    assert after["triggers"] == before["triggers"]


def test_a_trigger_from_an_older_release_is_replaced_in_place(world):
    install_service(world)
    older = extension(world)
    world.ct.update_by_key(
        "extensions",
        service_install.EXTENSION_KEY,
        older["version"],
        [
            {
                "action": "changeTriggers",
                "triggers": [{"resourceTypeId": "cart", "actions": ["Create", "Update"]}],
            }
        ],
    )
    assert install_service(world)["extension"] == "updated"
    current = extension(world)
    assert current["id"] == older["id"]
    assert current["version"] == older["version"] + 2
    assert current["triggers"][0]["condition"] == service_install.TRIGGER_CONDITION


def test_a_new_timeout_and_a_rotated_secret_are_applied_in_place(world):
    install_service(world)
    before = extension(world)
    result = install_service(world, EXTENSION_TIMEOUT_MS="4000", EXTENSION_SECRET="rotated-secret")
    assert result["extension"] == "updated"
    after = extension(world)
    assert (after["id"], after["version"]) == (before["id"], before["version"] + 1)
    assert after["timeoutInMs"] == 4000
    (stored,) = world.ct_state.store.scan("extensions")  # unmasked, as the platform keeps it
    assert stored["destination"]["authentication"]["headerValue"] == "Bearer rotated-secret"
    assert (
        install_service(world, EXTENSION_TIMEOUT_MS="4000", EXTENSION_SECRET="rotated-secret")[
            "extension"
        ]
        == "unchanged"
    )


def test_a_changed_secret_is_detected_without_reading_the_masked_header(world):
    """`headerValue` is "partially hidden on retrieval" (AuthorizationHeaderAuthentication):
    the script compares a fingerprint it keeps in its own custom object instead."""
    install_service(world)
    first = world.ct.get_custom_object(
        service_install.INSTALL_CONTAINER, service_install.SECRET_FINGERPRINT_KEY
    )
    assert first is not None
    assert EXTENSION_SECRET not in str(first["value"])
    assert install_service(world)["extension"] == "unchanged"
    assert install_service(world, EXTENSION_SECRET="rotated-secret")["extension"] == "updated"
    assert install_service(world, EXTENSION_SECRET="rotated-secret")["extension"] == "unchanged"
    assert install_service(world)["extension"] == "updated"  # and back


def test_merchant_named_extensions_run_before_the_loyalty_extension(world):
    promotions = {
        "key": "merchant-promotions",
        "destination": {"type": "HTTP", "url": "https://promotions.example.com/ext"},
        "triggers": [{"resourceTypeId": "cart", "actions": ["Create", "Update"]}],
    }
    promo = world.ct.create("extensions", promotions)
    installed = install_service(world, EXTENSION_DEPENDENCIES="merchant-promotions")
    assert installed["extension"] == "created"
    assert [d["id"] for d in extension(world)["dependencies"]] == [promo["id"]]
    assert (
        install_service(world, EXTENSION_DEPENDENCIES="merchant-promotions")["extension"]
        == "unchanged"
    )
    assert install_service(world)["extension"] == "updated"
    assert not extension(world).get("dependencies")
    with pytest.raises(InstallError, match="no-such-extension"):
        install_service(world, EXTENSION_DEPENDENCIES="no-such-extension")


def test_a_merchants_own_cart_type_is_extended_not_replaced(world):
    world.ct.create(
        "types",
        {
            "key": "merchant-order",
            "name": {"en": "Merchant order fields"},
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [
                {
                    "name": "giftNote",
                    "label": {"en": "Gift note"},
                    "required": False,
                    "type": {"name": "String"},
                }
            ],
        },
    )
    assert install_service(world, CART_CUSTOM_TYPE_KEY="merchant-order")["type"] == "updated"
    fields = {f["name"] for f in world.ct.get_by_key("types", "merchant-order")["fieldDefinitions"]}
    assert fields == {"giftNote"} | {d["name"] for d in CART_FIELD_DEFINITIONS}
    assert install_service(world, CART_CUSTOM_TYPE_KEY="merchant-order")["type"] == "unchanged"


def test_service_pre_undeploy_removes_the_extension_keeps_the_fields_and_can_run_again(world):
    install_service(world)
    settings = service_settings(world)
    assert service_install.pre_undeploy(world.ct, {}, settings) == {"extension": "removed"}
    assert world.ct.query("extensions", limit=10)["results"] == []
    assert world.ct.get_by_key("types", service_install.OWN_CART_TYPE_KEY)
    assert service_install.pre_undeploy(world.ct, {}, settings) == {"extension": "absent"}


# --- the scripts as Connect (or deploy/deploy.sh) runs them -----------------------------------


def run_script(module: str, step: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, step],
        cwd=ROOT,
        # OIDC is on unless turned off; these runs are local, like `make run`.
        env={"PATH": os.environ.get("PATH", ""), "OIDC_VERIFICATION": "off", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_event_post_deploy_runs_as_a_process_with_connect_variables(world):
    result = run_script("event.install", "post-deploy", {**world.env, **EVENT_ENV})
    assert result.returncode == 0, result.stderr
    assert "event post-deploy: created" in result.stdout
    assert subscription(world)["destination"]["topic"] == "ct-loyalty"

    again = run_script("event.install", "post-deploy", {**world.env, **EVENT_ENV})
    assert (again.returncode, again.stdout.strip().splitlines()[-1]) == (
        0,
        "event post-deploy: unchanged",
    )
    gone = run_script("event.install", "pre-undeploy", world.env)
    assert gone.returncode == 0
    assert "event pre-undeploy: removed" in gone.stdout


@pytest.mark.parametrize("missing", sorted(EVENT_ENV))
def test_event_post_deploy_fails_clearly_without_a_connect_variable(world, missing):
    env = {**world.env, **{k: v for k, v in EVENT_ENV.items() if k != missing}}
    result = run_script("event.install", "post-deploy", env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert world.ct.query("subscriptions", limit=10)["results"] == []


def test_event_post_deploy_fails_clearly_without_its_settings(world):
    env = {k: v for k, v in world.env.items() if k != "CTP_CLIENT_SECRET"} | EVENT_ENV
    result = run_script("event.install", "post-deploy", env)
    assert result.returncode != 0
    assert "CTP_CLIENT_SECRET: missing" in result.stderr


def test_service_post_deploy_runs_as_a_process(world):
    env = {**world.env, "EXTENSION_SECRET": EXTENSION_SECRET, "CONNECT_SERVICE_URL": SERVICE_URL}
    result = run_script("service.install", "post-deploy", env)
    assert result.returncode == 0, result.stderr
    assert "'extension': 'created'" in result.stdout
    assert EXTENSION_SECRET not in result.stdout + result.stderr
    missing = run_script("service.install", "post-deploy", {**env, "CONNECT_SERVICE_URL": ""})
    assert missing.returncode != 0
    assert "CONNECT_SERVICE_URL is not set" in missing.stderr
