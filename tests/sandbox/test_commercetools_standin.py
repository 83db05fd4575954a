"""The commercetools stand-in: OAuth, envelope, versions, custom objects, queries, admin."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.commercetools import DeliveryConfig, StandInConfig, StandInState, create_app
from sandbox.serving import ServerThread
from shared.commercetools import CommercetoolsClient
from shared.errors import ConcurrentModificationError, NotFoundError

PROJECT = "sandbox"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fast_delivery(**overrides: Any) -> DeliveryConfig:
    """Direct push, quick backoff: tests wait on `wait_idle`, never on wall-clock time."""
    settings: dict[str, Any] = {
        "use_emulator": False,
        "push_url": None,
        "backoff_start": 0.01,
        "backoff_cap": 0.05,
        "max_attempts": 5,
        "workers": 4,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return DeliveryConfig(**settings)


def new_state(**config: Any) -> StandInState:
    config.setdefault("delivery", fast_delivery())
    return StandInState(StandInConfig(**config))


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class Api:
    """A storefront's-eye view of the stand-in through Flask's test client."""

    def __init__(self, client: FlaskClient, state: StandInState) -> None:
        self.client = client
        self.state = state
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": f"manage_project:{PROJECT}"},
            headers=basic("client", "secret"),
        )
        assert response.status_code == 200
        self.headers = {"Authorization": f"Bearer {response.json['access_token']}"}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.client.open(
            f"/{PROJECT}/{path}",
            method=method,
            json=body,
            query_string=params,
            headers=self.headers,
        )
        return response

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        response = self.call(method, path, body, **params)
        assert response.status_code in (200, 201), response.json
        return response.json

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.ok("GET", path, **params)

    def post(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        return self.ok("POST", path, body, **params)

    def update(
        self, path: str, resource: dict[str, Any], *actions: dict[str, Any]
    ) -> dict[str, Any]:
        return self.post(
            f"{path}/{resource['id']}", {"version": resource["version"], "actions": list(actions)}
        )

    def error(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, dict]:
        response = self.call(method, path, body, **params)
        assert response.status_code >= 400, response.json
        return response.status_code, response.json


@pytest.fixture
def state() -> Iterator[StandInState]:
    state = new_state()
    yield state
    state.close()


@pytest.fixture
def api(state: StandInState) -> Api:
    return Api(create_app(state).test_client(), state)


def customer_draft(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"email": f"shopper{n}@example.com", "firstName": "Ada", "lastName": f"L{n}", **extra}


# --- OAuth and the envelope --------------------------------------------------------------------
def test_token_is_issued_for_client_credentials(api: Api) -> None:
    response = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "manage_project:sandbox"},
        headers=basic("id", "secret"),
    )
    body = response.json
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 172_800
    assert body["scope"] == "manage_project:sandbox"
    assert body["access_token"]


def test_token_needs_credentials_and_the_configured_pair() -> None:
    state = new_state(client_id="right", client_secret="pair")
    client = create_app(state).test_client()
    form = {"grant_type": "client_credentials"}
    assert client.post("/oauth/token", data=form).status_code == 401
    refused = client.post("/oauth/token", data=form, headers=basic("right", "wrong"))
    assert refused.status_code == 401
    assert refused.json["errors"][0]["code"] == "invalid_client"
    assert client.post("/oauth/token", data=form, headers=basic("right", "pair")).status_code == 200
    state.close()


def test_calls_without_a_valid_token_get_the_401_envelope(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = api.client.get(f"/{PROJECT}/customers", headers=headers)
        assert response.status_code == 401
        assert response.json["statusCode"] == 401
        assert response.json["message"]
        assert response.json["errors"][0]["code"] == "invalid_token"


def test_tokens_expire_after_their_lifetime() -> None:
    clock = FakeClock()
    state = new_state(token_ttl=60, clock=clock)
    api = Api(create_app(state).test_client(), state)
    assert api.call("GET", "customers").status_code == 200
    clock.now += 59
    assert api.call("GET", "customers").status_code == 200
    clock.now += 2
    assert api.call("GET", "customers").status_code == 401
    state.close()


def test_correlation_id_is_echoed_or_generated(api: Api) -> None:
    given = api.client.get(
        f"/{PROJECT}/customers", headers={**api.headers, "X-Correlation-ID": "corr-123"}
    )
    assert given.headers["X-Correlation-ID"] == "corr-123"
    generated = api.client.get(f"/{PROJECT}/customers", headers=api.headers)
    assert generated.headers["X-Correlation-ID"]
    assert generated.headers["X-Correlation-ID"] != "corr-123"


def test_error_envelopes_for_missing_resources_bad_json_and_unknown_actions(api: Api) -> None:
    status, body = api.error("GET", "customers/does-not-exist")
    assert status == 404
    assert body["statusCode"] == 404 and body["errors"][0]["code"] == "ResourceNotFound"

    response = api.client.post(
        f"/{PROJECT}/customers",
        data="{not json",
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["errors"][0]["code"] == "InvalidJsonInput"

    customer = api.post("customers", customer_draft())["customer"]
    status, body = api.error(
        "POST", f"customers/{customer['id']}", {"version": 1, "actions": [{"action": "fly"}]}
    )
    assert status == 400
    assert body["errors"][0]["code"] == "InvalidInput"
    assert "fly" in body["message"]


# --- customers, groups, types ------------------------------------------------------------------
def test_customer_lifecycle_with_versions_keys_and_expansion(api: Api) -> None:
    group = api.post("customer-groups", {"groupName": "VIP", "key": "vip"})
    created = api.post("customers", customer_draft(customerNumber="C-1", key="ada"))
    customer = created["customer"]
    assert customer["version"] == 1
    assert customer["createdAt"] and customer["lastModifiedAt"]

    updated = api.update(
        "customers",
        customer,
        {"action": "changeEmail", "email": "new@example.com"},
        {"action": "setFirstName", "firstName": "Grace"},
        {"action": "setCustomerGroup", "customerGroup": {"typeId": "customer-group", "key": "vip"}},
    )
    assert updated["version"] == 2
    assert updated["email"] == "new@example.com" and updated["firstName"] == "Grace"

    status, body = api.error(
        "POST",
        f"customers/{customer['id']}",
        {"version": 1, "actions": [{"action": "setLastName", "lastName": "X"}]},
    )
    assert status == 409
    assert body["errors"][0]["code"] == "ConcurrentModification"
    assert body["errors"][0]["currentVersion"] == 2

    by_key = api.get("customers/key=ada", expand="customerGroup")
    assert by_key["id"] == customer["id"]
    assert by_key["customerGroup"]["obj"]["id"] == group["id"]
    assert by_key["customerGroup"]["obj"]["name"] == "VIP"

    status, body = api.error("POST", "customers", customer_draft(email="NEW@example.com"))
    assert status == 400 and body["errors"][0]["code"] == "DuplicateField"

    assert api.error("DELETE", "customers/key=ada", version=1)[0] == 409
    deleted = api.ok("DELETE", "customers/key=ada", version=2)
    assert deleted["id"] == customer["id"]
    assert api.error("GET", f"customers/{customer['id']}")[0] == 404


def test_lowercase_email_is_a_query_field_not_a_customer_field(api: Api) -> None:
    # `lowercaseEmail` can be queried but is not part of the Customer representation (absent
    # from RAML types/customer/Customer.raml; the JVM SDK: "this is not a field in customer!").
    customer = api.post("customers", customer_draft(email="Ada.Lovelace@Example.com"))["customer"]
    assert "lowercaseEmail" not in customer
    found = api.get("customers", where='lowercaseEmail = "ada.lovelace@example.com"')
    assert [c["id"] for c in found["results"]] == [customer["id"]]
    changed = api.update("customers", customer, {"action": "changeEmail", "email": "ADA@x.org"})
    assert changed["email"] == "ADA@x.org" and "lowercaseEmail" not in changed
    again = api.get("customers", where='lowercaseEmail = "ada@x.org"')
    assert [c["id"] for c in again["results"]] == [customer["id"]]


def test_an_update_that_changes_nothing_keeps_the_version(api: Api) -> None:
    customer = api.post("customers", customer_draft())["customer"]
    same = api.update("customers", customer, {"action": "setFirstName", "firstName": "Ada"})
    assert same["version"] == 1


def test_types_and_custom_fields(api: Api) -> None:
    type_ = api.post(
        "types",
        {
            "key": "loyalty-customer",
            "name": {"en": "Loyalty"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {
                    "name": "tier",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "Tier"},
                }
            ],
        },
    )
    type_ = api.update(
        "types",
        type_,
        {
            "action": "addFieldDefinition",
            "fieldDefinition": {
                "name": "balance",
                "type": {"name": "Money"},
                "required": False,
                "label": {"en": "B"},
            },
        },
        {
            "action": "addFieldDefinition",
            "fieldDefinition": {
                "name": "optIn",
                "type": {"name": "Boolean"},
                "required": False,
                "label": {"en": "O"},
            },
        },
        {"action": "changeName", "name": {"en": "Loyalty v2"}},
    )
    assert type_["version"] == 2
    assert [d["name"] for d in type_["fieldDefinitions"]] == ["tier", "balance", "optIn"]

    customer = api.post(
        "customers",
        customer_draft(custom={"type": {"key": "loyalty-customer"}, "fields": {"tier": "gold"}}),
    )["customer"]
    assert customer["custom"]["type"] == {"typeId": "type", "id": type_["id"]}
    customer = api.update(
        "customers",
        customer,
        {
            "action": "setCustomField",
            "name": "balance",
            "value": {"currencyCode": "KWD", "centAmount": 1500},
        },
        {"action": "setCustomField", "name": "tier"},
    )
    assert customer["custom"]["fields"] == {
        "balance": {
            "type": "centPrecision",
            "currencyCode": "KWD",
            "centAmount": 1500,
            "fractionDigits": 3,
        }
    }
    status, body = api.error(
        "POST",
        f"customers/{customer['id']}",
        {
            "version": customer["version"],
            "actions": [{"action": "setCustomField", "name": "optIn", "value": "yes"}],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidField"
    status, body = api.error(
        "POST",
        "customers",
        customer_draft(2, custom={"type": {"key": "missing-type"}, "fields": {}}),
    )
    assert status == 400 and body["errors"][0]["code"] == "ReferencedResourceNotFound"


# --- custom objects ----------------------------------------------------------------------------
def test_custom_objects_create_update_and_optimistic_concurrency(api: Api) -> None:
    created = api.call(
        "POST",
        "custom-objects",
        {"container": "ledger", "key": "o-1", "value": {"n": 1}, "version": 0},
    )
    assert created.status_code == 201
    assert created.json["version"] == 1

    status, body = api.error(
        "POST",
        "custom-objects",
        {"container": "ledger", "key": "o-1", "value": {"n": 2}, "version": 0},
    )
    assert status == 409 and body["errors"][0]["currentVersion"] == 1

    updated = api.call(
        "POST",
        "custom-objects",
        {"container": "ledger", "key": "o-1", "value": {"n": 2}, "version": 1},
    )
    assert updated.status_code == 200 and updated.json["version"] == 2

    status, body = api.error(
        "POST",
        "custom-objects",
        {"container": "ledger", "key": "o-1", "value": {"n": 3}, "version": 1},
    )
    assert status == 409 and body["errors"][0]["currentVersion"] == 2

    overwritten = api.post(
        "custom-objects", {"container": "ledger", "key": "o-1", "value": {"n": 4}}
    )
    assert overwritten["version"] == 3

    assert api.get("custom-objects/ledger/o-1")["value"] == {"n": 4}
    api.post("custom-objects", {"container": "ledger", "key": "o-2", "value": {"n": 9}})
    api.post("custom-objects", {"container": "other", "key": "o-1", "value": {"n": 9}})
    assert api.get("custom-objects/ledger")["total"] == 2
    assert [
        o["key"]
        for o in api.get("custom-objects", where='container = "ledger" and value(n = 9)')["results"]
    ] == ["o-2"]

    assert api.error("DELETE", "custom-objects/ledger/o-1", version=1)[0] == 409
    assert api.ok("DELETE", "custom-objects/ledger/o-1", version=3)["key"] == "o-1"
    assert api.error("GET", "custom-objects/ledger/o-1")[0] == 404


def test_custom_object_version_applies_only_to_an_existing_object(api: Api) -> None:
    # RAML resources/custom-objects.raml (POST): "If the request contains a version and an
    # object with the given container/key, then the version must match" - for an absent
    # object the platform documents no conflict, so none is invented: it is created.
    created = api.post(
        "custom-objects", {"container": "c", "key": "gone", "value": 1, "version": 4}
    )
    assert created["version"] == 1 and created["value"] == 1
    status, body = api.error(
        "POST", "custom-objects", {"container": "c", "key": "gone", "value": 2, "version": 0}
    )
    assert status == 409 and body["errors"][0]["currentVersion"] == 1


def test_custom_object_nulls_are_not_saved_and_a_replace_bumps_the_version(api: Api) -> None:
    # "Fields within `value` that have `null` values are not saved." and an existing object
    # "will be replaced with the new value and the version is incremented" (same page).
    draft = {"container": "c", "key": "n", "value": {"a": None, "b": 1, "c": {"d": None}}}
    first = api.post("custom-objects", draft)
    assert first["value"] == {"b": 1, "c": {}}
    again = api.post("custom-objects", draft)
    assert again["version"] == first["version"] + 1


# --- queries -----------------------------------------------------------------------------------
def test_query_where_sort_limit_offset_and_total(api: Api) -> None:
    ids = [api.post("customers", customer_draft(n))["customer"]["id"] for n in range(1, 8)]
    page = api.get("customers", sort="id asc", limit=3)
    assert page["count"] == 3 and page["total"] == 7 and page["limit"] == 3 and page["offset"] == 0
    assert [c["id"] for c in page["results"]] == sorted(ids)[:3]

    cursor = sorted(ids)[2]
    after = api.get(
        "customers", where=f'id > "{cursor}"', sort="id asc", limit=500, withTotal="false"
    )
    assert "total" not in after
    assert [c["id"] for c in after["results"]] == sorted(ids)[3:]

    offset = api.get("customers", sort="lastName desc", offset=5)
    assert [c["lastName"] for c in offset["results"]] == ["L2", "L1"]

    both = api.get(
        "customers",
        where=['lastName in ("L1", "L2", "L3")', 'firstName = "Ada"', 'lastName != "L2"'],
    )
    assert sorted(c["lastName"] for c in both["results"]) == ["L1", "L3"]

    assert api.error("GET", "customers", limit=501)[0] == 400
    status, body = api.error("GET", "customers", where="lastName ==")
    assert status == 400 and body["errors"][0]["code"] == "InvalidInput"


# --- through a real HTTP server with the connector's own client --------------------------------
def test_the_connectors_client_runs_unchanged_against_the_stand_in(state: StandInState) -> None:
    with ServerThread(create_app(state)) as server:
        ct = CommercetoolsClient(
            project_key=PROJECT,
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            scope=f"manage_project:{PROJECT}",
            api_url=server.url,
            auth_url=server.url,
            sleep=lambda seconds: None,
        )
        created = [ct.create("customers", customer_draft(n))["customer"] for n in range(7)]
        seen = [c["id"] for c in ct.iterate("customers", page_size=3)]
        assert seen == sorted(c["id"] for c in created)

        first = ct.put_custom_object("ledger", "order-1", {"planned": []}, version=0)
        with pytest.raises(ConcurrentModificationError) as conflict:
            ct.put_custom_object("ledger", "order-1", {"planned": [1]}, version=0)
        assert conflict.value.current_version == first["version"]
        assert ct.get_custom_object("ledger", "missing") is None
        with pytest.raises(NotFoundError):
            ct.get_by_id("orders", "missing")

        server_requests = len(state.recorded_requests()["requests"])
        ok = server.url + "/_sandbox/faults"
        import requests

        requests.post(
            ok,
            json={"error_next": 2, "error_status": 503, "path_prefix": f"/{PROJECT}/customers"},
            timeout=5,
        )
        assert ct.get_by_id("customers", created[0]["id"])["id"] == created[0]["id"]
        log = state.recorded_requests(since=server_requests)["requests"]
        assert [r["status"] for r in log] == [503, 503, 200]
        assert all(r["correlationId"] for r in log)
        assert log[0]["path"] == f"/{PROJECT}/customers/{created[0]['id']}"


# --- admin -------------------------------------------------------------------------------------
def test_admin_state_products_and_reset(api: Api) -> None:
    api.post("customers", customer_draft())
    client = api.client
    assert client.get("/_sandbox/state").json["counts"]["customers"] == 1

    seeded = client.post(
        "/_sandbox/products",
        json={
            "products": [
                {"sku": "SKU-KWD-ONLY", "name": "Dates", "prices": {"KWD": 1250}, "taxRate": "0.05"}
            ]
        },
    ).json
    assert any(p["sku"] == "SKU-KWD-ONLY" for p in seeded["products"])
    assert any(p["sku"] == "SKU-TSHIRT" for p in seeded["products"])
    cart = api.post(
        "carts", {"currency": "KWD", "lineItems": [{"sku": "SKU-KWD-ONLY", "quantity": 3}]}
    )
    assert (
        cart["taxedPrice"]["totalTax"]["centAmount"] == 188
    )  # 3750 * 5% = 187.5 → 188 (half even)

    with_resources = client.get("/_sandbox/state?resources=true").json
    assert len(with_resources["resources"]["carts"]) == 1

    assert client.post("/_sandbox/reset").status_code == 200
    counts = client.get("/_sandbox/state").json["counts"]
    assert counts["customers"] == 0 and counts["carts"] == 0
    assert all(
        p["sku"] != "SKU-KWD-ONLY" for p in client.get("/_sandbox/products").json["products"]
    )
    assert api.call("GET", "customers").status_code == 200  # tokens survive a reset


def test_faults_can_target_a_method_and_add_nothing_else(api: Api) -> None:
    api.client.post(
        "/_sandbox/faults", json={"error_next": 1, "error_status": 502, "method": "POST"}
    )
    assert api.call("GET", "customers").status_code == 200
    failed = api.call("POST", "customers", customer_draft())
    assert failed.status_code == 502
    assert failed.json["statusCode"] == 502
    assert api.call("POST", "customers", customer_draft()).status_code == 201
    assert api.client.post("/_sandbox/faults", json={"error_status": 418}).status_code == 400


def test_concurrent_writers_of_one_version_get_exactly_one_success(state: StandInState) -> None:
    import requests

    with ServerThread(create_app(state)) as server:
        token = requests.post(
            f"{server.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("c", "s"),
            timeout=5,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        customer = requests.post(
            f"{server.url}/{PROJECT}/customers", json=customer_draft(), headers=headers, timeout=5
        ).json()["customer"]
        statuses: list[int] = []
        start = threading.Barrier(8)

        def write(n: int) -> None:
            start.wait()
            response = requests.post(
                f"{server.url}/{PROJECT}/customers/{customer['id']}",
                json={"version": 1, "actions": [{"action": "setLastName", "lastName": f"W{n}"}]},
                headers=headers,
                timeout=10,
            )
            statuses.append(response.status_code)

        writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert sorted(statuses) == [200] + [409] * 7
        recorded = requests.get(
            f"{server.url}/_sandbox/requests", params={"since": 0}, timeout=5
        ).json()
        assert [r["status"] for r in recorded["requests"]].count(409) == 7
        assert recorded["next"] == len(recorded["requests"])
