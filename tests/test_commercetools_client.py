from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from shared.commercetools import CommercetoolsClient, literal, literal_list
from shared.correlation import correlation_scope
from shared.errors import (
    CommercetoolsPermanentError,
    CommercetoolsTransientError,
    ConcurrentModificationError,
    NotFoundError,
)

API = "https://api.test.commercetools.com"
AUTH = "https://auth.test.commercetools.com"
TOKEN_URL = f"{AUTH}/oauth/token"
BASE = f"{API}/demo"
SECRET = "ct-client-secret-value"


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def ct(fake: FakeTime) -> CommercetoolsClient:
    return CommercetoolsClient(
        project_key="demo",
        client_id="client-1",
        client_secret=SECRET,
        scope="manage_project:demo",
        api_url=API + "/",
        auth_url=AUTH,
        timeout=7.5,
        clock=fake.clock,
        sleep=fake.sleep,
        jitter=lambda: 0.5,
    )


def add_token(rsps, token: str = "tok-1", expires_in: int = 172800) -> None:
    rsps.post(
        TOKEN_URL,
        json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
    )


def envelope(status: int, *errors: dict) -> dict:
    return {"statusCode": status, "message": errors[0]["message"], "errors": list(errors)}


def api_calls(rsps) -> list:
    return [c for c in rsps.calls if not c.request.url.startswith(TOKEN_URL)]


def token_calls(rsps) -> list:
    return [c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# --- token ---------------------------------------------------------------------------------


def test_token_is_requested_once_and_reused_across_calls(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    for _ in range(3):
        assert ct.get_by_id("orders", "o-1") == {"id": "o-1"}

    (token_call,) = token_calls(rsps)
    expected = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    assert token_call.request.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(token_call.request.body) == {
        "grant_type": ["client_credentials"],
        "scope": ["manage_project:demo"],
    }
    assert len(api_calls(rsps)) == 3
    assert all(c.request.headers["Authorization"] == "Bearer tok-1" for c in api_calls(rsps))
    assert all(c.request.req_kwargs["timeout"] == 7.5 for c in rsps.calls)


def test_token_is_refreshed_shortly_before_it_expires(rsps, ct, fake):
    add_token(rsps, "tok-1", expires_in=3600)
    add_token(rsps, "tok-2", expires_in=3600)
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    ct.get_by_id("orders", "o-1")
    fake.now += 3600 - 301  # more than five minutes left: keep it
    ct.get_by_id("orders", "o-1")
    fake.now += 2  # less than five minutes left: refresh before it can expire mid-flight
    ct.get_by_id("orders", "o-1")

    assert len(token_calls(rsps)) == 2
    used = [c.request.headers["Authorization"] for c in api_calls(rsps)]
    assert used == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_short_lived_tokens_are_refreshed_at_ten_percent_left(rsps, ct, fake):
    add_token(rsps, "tok-1", expires_in=100)
    add_token(rsps, "tok-2", expires_in=100)
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    ct.get_by_id("orders", "o-1")
    fake.now += 89
    ct.get_by_id("orders", "o-1")
    fake.now += 2
    ct.get_by_id("orders", "o-1")

    assert len(token_calls(rsps)) == 2


def test_a_401_refreshes_the_token_once_and_retries_once(rsps, ct):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    url = f"{BASE}/customers/c-1"
    rsps.get(url, status=401, json=envelope(401, {"code": "invalid_token", "message": "bad"}))
    rsps.get(url, json={"id": "c-1"})

    assert ct.get_by_id("customers", "c-1") == {"id": "c-1"}

    assert len(token_calls(rsps)) == 2
    used = [c.request.headers["Authorization"] for c in api_calls(rsps)]
    assert used == ["Bearer tok-1", "Bearer tok-2"]


def test_a_second_401_is_not_retried_again(rsps, ct):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.get(
        f"{BASE}/customers/c-1",
        status=401,
        json=envelope(401, {"code": "invalid_token", "message": "bad"}),
    )

    with pytest.raises(CommercetoolsPermanentError) as err:
        ct.get_by_id("customers", "c-1")

    assert err.value.status == 401 and err.value.codes == ("invalid_token",)
    assert len(api_calls(rsps)) == 2 and len(token_calls(rsps)) == 2


def test_refused_credentials_are_a_permanent_error(rsps, ct):
    rsps.post(
        TOKEN_URL,
        status=401,
        json={
            "statusCode": 401,
            "message": "Please provide valid client credentials.",
            "errors": [{"code": "invalid_client", "message": "Please provide valid ..."}],
        },
    )

    with pytest.raises(CommercetoolsPermanentError) as err:
        ct.get("orders")

    assert err.value.codes == ("invalid_client",)
    assert api_calls(rsps) == []


# --- retries -------------------------------------------------------------------------------


def test_503_is_retried_after_a_backoff_then_succeeds(rsps, ct, fake):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o-1", status=503, json={"statusCode": 503, "message": "busy"})
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    assert ct.get_by_id("orders", "o-1") == {"id": "o-1"}

    assert len(api_calls(rsps)) == 2
    assert fake.sleeps == [pytest.approx(0.1875)]  # 0.25 s step, half fixed + half jitter


def test_exhausted_retries_raise_a_transient_error_after_growing_backoffs(rsps, ct, fake):
    add_token(rsps)
    rsps.post(f"{BASE}/orders/o-1", status=502, body="bad gateway")

    with pytest.raises(CommercetoolsTransientError) as err:
        ct.update("orders", "o-1", 3, [{"action": "setOrderNumber", "orderNumber": "A1"}])

    assert err.value.status == 502
    assert len(api_calls(rsps)) == 4  # first try + max_retries
    assert fake.sleeps == [pytest.approx(0.1875), pytest.approx(0.375), pytest.approx(0.75)]


def test_connection_errors_are_retried(rsps, ct, fake):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o-1", body=requests.ConnectionError("reset by peer"))
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    assert ct.get_by_id("orders", "o-1") == {"id": "o-1"}
    assert len(fake.sleeps) == 1


def test_a_timed_out_update_is_retried_because_its_version_makes_it_safe(rsps, ct):
    add_token(rsps)
    url = f"{BASE}/orders/o-1"
    rsps.post(url, body=requests.ReadTimeout("slow"))
    rsps.post(url, json={"id": "o-1", "version": 4})

    assert ct.update("orders", "o-1", 3, [])["version"] == 4
    bodies = [json.loads(c.request.body) for c in api_calls(rsps)]
    assert bodies == [{"version": 3, "actions": []}] * 2


def test_connection_errors_until_exhaustion_raise_a_transient_error(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders", body=requests.ConnectTimeout("no route"))

    with pytest.raises(CommercetoolsTransientError, match="ConnectTimeout"):
        ct.get("orders")
    assert len(api_calls(rsps)) == 4


def test_500_is_retried_for_reads_only(rsps, ct, fake):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o-1", status=500, json={"statusCode": 500, "message": "oops"})
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})
    rsps.post(f"{BASE}/orders", status=500, json={"statusCode": 500, "message": "oops"})

    assert ct.get_by_id("orders", "o-1") == {"id": "o-1"}
    with pytest.raises(CommercetoolsTransientError) as err:
        ct.create("orders", {"id": "cart-1", "version": 1})

    assert err.value.status == 500
    assert [c.request.method for c in api_calls(rsps)] == ["GET", "GET", "POST"]


def test_zero_retries_means_a_single_attempt(rsps, fake):
    client = CommercetoolsClient(
        project_key="demo",
        client_id="c",
        client_secret=SECRET,
        scope="s",
        api_url=API,
        auth_url=AUTH,
        max_retries=0,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    add_token(rsps)
    rsps.get(f"{BASE}/orders", status=503)

    with pytest.raises(CommercetoolsTransientError):
        client.get("orders")
    assert len(api_calls(rsps)) == 1 and fake.sleeps == []


# --- error mapping -------------------------------------------------------------------------


def test_404_raises_not_found(rsps, ct):
    add_token(rsps)
    rsps.get(
        f"{BASE}/orders/nope",
        status=404,
        json=envelope(404, {"code": "ResourceNotFound", "message": "not found"}),
    )

    with pytest.raises(NotFoundError) as err:
        ct.get_by_id("orders", "nope")
    assert err.value.status == 404 and err.value.codes == ("ResourceNotFound",)
    assert len(api_calls(rsps)) == 1


def test_409_carries_the_current_version(rsps, ct):
    add_token(rsps)
    rsps.post(
        f"{BASE}/carts/c-1",
        status=409,
        json=envelope(
            409,
            {
                "code": "ConcurrentModification",
                "message": "Object c-1 has a different version than expected.",
                "currentVersion": 7,
            },
        ),
    )

    with pytest.raises(ConcurrentModificationError) as err:
        ct.update("carts", "c-1", 5, [{"action": "recalculate"}])
    assert err.value.current_version == 7
    assert err.value.codes == ("ConcurrentModification",)
    assert len(api_calls(rsps)) == 1


def test_400_with_codes_is_permanent(rsps, ct):
    add_token(rsps)
    rsps.post(
        f"{BASE}/carts",
        status=400,
        json=envelope(
            400,
            {"code": "InvalidInput", "message": "bad currency"},
            {"code": "InvalidOperation", "message": "nope"},
        ),
    )

    with pytest.raises(CommercetoolsPermanentError) as err:
        ct.create("carts", {"currency": "XXX"})
    assert not isinstance(err.value, NotFoundError)
    assert err.value.status == 400
    assert err.value.codes == ("InvalidInput", "InvalidOperation")
    assert err.value.errors[0]["message"] == "bad currency"


def test_a_non_json_error_body_still_maps_by_status(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/x", status=403, body="<html>forbidden</html>")

    with pytest.raises(CommercetoolsPermanentError) as err:
        ct.get_by_id("orders", "x")
    assert err.value.status == 403 and err.value.codes == ()


# --- request shape -------------------------------------------------------------------------


def test_the_correlation_id_is_sent_on_every_call(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o-1", json={"id": "o-1"})

    with correlation_scope("corr-123"):
        ct.get_by_id("orders", "o-1")

    assert all(c.request.headers["X-Correlation-ID"] == "corr-123" for c in rsps.calls)


def test_paths_ids_and_keys_are_escaped_and_expansions_sent(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders/o%2F1", json={"id": "o/1"})
    rsps.get(f"{BASE}/extensions/key=my%20ext", json={"key": "my ext"})

    ct.get_by_id("orders", "o/1", expand=["paymentInfo.payments[*]", "customer"])
    ct.get_by_key("extensions", "my ext")

    first, second = api_calls(rsps)
    assert query_of(first) == {"expand": ["paymentInfo.payments[*]", "customer"]}
    assert urlsplit(second.request.url).path == "/demo/extensions/key=my%20ext"


def test_query_sends_its_parameters(rsps, ct):
    add_token(rsps)
    page = {"limit": 5, "offset": 10, "count": 0, "total": 0, "results": []}
    rsps.get(f"{BASE}/orders", json=page)

    assert (
        ct.query(
            "orders",
            where=['orderState = "Open"', 'customerId = "c-1"'],
            sort="createdAt desc",
            limit=5,
            offset=10,
            expand="customer",
            with_total=True,
        )
        == page
    )
    assert query_of(api_calls(rsps)[0]) == {
        "where": ['orderState = "Open"', 'customerId = "c-1"'],
        "sort": ["createdAt desc"],
        "limit": ["5"],
        "offset": ["10"],
        "expand": ["customer"],
        "withTotal": ["true"],
    }


def test_update_create_and_delete_by_key_use_the_rest_shapes(rsps, ct):
    add_token(rsps)
    rsps.post(f"{BASE}/subscriptions/key=events", json={"version": 3})
    rsps.post(f"{BASE}/subscriptions", json={"id": "s-1", "version": 1})
    rsps.delete(f"{BASE}/subscriptions/key=events", json={"version": 3})
    rsps.delete(f"{BASE}/subscriptions/s-1", json={"version": 1})

    ct.update_by_key("subscriptions", "events", 2, [{"action": "setMessages", "messages": []}])
    ct.create("subscriptions", {"key": "events"})
    ct.delete_by_key("subscriptions", "events", 3)
    ct.delete_by_id("subscriptions", "s-1", 1)

    update, create, by_key, by_id = api_calls(rsps)
    assert json.loads(update.request.body) == {
        "version": 2,
        "actions": [{"action": "setMessages", "messages": []}],
    }
    assert json.loads(create.request.body) == {"key": "events"}
    assert query_of(by_key) == {"version": ["3"]}
    assert query_of(by_id) == {"version": ["1"]}


# --- iterate -------------------------------------------------------------------------------


def test_iterate_walks_pages_by_id_cursor_and_stops_on_a_short_page(rsps, ct):
    add_token(rsps)
    ids = [f"id-{n:02d}" for n in range(7)]
    pages = [ids[0:3], ids[3:6], ids[6:7]]
    for page in pages:
        rsps.get(
            f"{BASE}/orders",
            json={"limit": 3, "count": len(page), "results": [{"id": i} for i in page]},
        )

    seen = [o["id"] for o in ct.iterate("orders", where='orderState = "Open"', page_size=3)]

    assert seen == ids
    queries = [query_of(c) for c in api_calls(rsps)]
    assert [q["where"] for q in queries] == [
        ['orderState = "Open"'],
        ['(orderState = "Open") and id > "id-02"'],
        ['(orderState = "Open") and id > "id-05"'],
    ]
    for q in queries:
        assert q["sort"] == ["id asc"]
        assert q["withTotal"] == ["false"]
        assert q["limit"] == ["3"]
        assert "offset" not in q


def test_iterate_without_a_filter_and_with_an_empty_last_page(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/custom-objects", json={"results": [{"id": "a"}, {"id": "b"}]})
    rsps.get(f"{BASE}/custom-objects", json={"results": []})

    assert [o["id"] for o in ct.iterate("custom-objects", page_size=2)] == ["a", "b"]

    first, second = (query_of(c) for c in api_calls(rsps))
    assert "where" not in first
    assert second["where"] == ['id > "b"']


def test_iterate_is_lazy(rsps, ct):
    add_token(rsps)
    rsps.get(f"{BASE}/orders", json={"results": [{"id": "a"}, {"id": "b"}]})

    walk = ct.iterate("orders", page_size=2)
    assert api_calls(rsps) == []
    assert next(walk) == {"id": "a"}
    assert len(api_calls(rsps)) == 1


# --- custom objects ------------------------------------------------------------------------


def test_get_custom_object_answers_none_when_absent(rsps, ct):
    add_token(rsps)
    rsps.get(
        f"{BASE}/custom-objects/ledger/o-1",
        status=404,
        json=envelope(404, {"code": "ResourceNotFound", "message": "gone"}),
    )
    rsps.get(f"{BASE}/custom-objects/ledger/o-2", json={"version": 2, "value": {"a": 1}})

    assert ct.get_custom_object("ledger", "o-1") is None
    assert ct.get_custom_object("ledger", "o-2") == {"version": 2, "value": {"a": 1}}


def test_put_custom_object_sends_the_version_or_none(rsps, ct):
    add_token(rsps)
    rsps.post(f"{BASE}/custom-objects", json={"version": 1})

    ct.put_custom_object("ledger", "o-1", {"ops": []}, version=0)
    ct.put_custom_object("ledger", "o-1", {"ops": [1]}, version=4)
    ct.put_custom_object("ledger", "o-1", {"ops": [2]}, version=None)

    bodies = [json.loads(c.request.body) for c in api_calls(rsps)]
    assert bodies == [
        {"container": "ledger", "key": "o-1", "value": {"ops": []}, "version": 0},
        {"container": "ledger", "key": "o-1", "value": {"ops": [1]}, "version": 4},
        {"container": "ledger", "key": "o-1", "value": {"ops": [2]}},
    ]


def test_put_custom_object_with_a_stale_version_is_a_concurrent_modification(rsps, ct):
    add_token(rsps)
    rsps.post(
        f"{BASE}/custom-objects",
        status=409,
        json=envelope(
            409,
            {"code": "ConcurrentModification", "message": "stale", "currentVersion": 9},
        ),
    )

    with pytest.raises(ConcurrentModificationError) as err:
        ct.put_custom_object("ledger", "o-1", {}, version=8)
    assert err.value.current_version == 9


def test_delete_custom_object_with_and_without_version(rsps, ct):
    add_token(rsps)
    rsps.delete(f"{BASE}/custom-objects/dead%20letters/m%3A1", json={"version": 3})
    rsps.delete(
        f"{BASE}/custom-objects/ledger/gone",
        status=404,
        json=envelope(404, {"code": "ResourceNotFound", "message": "gone"}),
    )

    assert ct.delete_custom_object("dead letters", "m:1", version=3) == {"version": 3}
    assert ct.delete_custom_object("ledger", "gone") is None

    first, second = api_calls(rsps)
    assert query_of(first) == {"version": ["3"]}
    assert query_of(second) == {}


# --- logs ----------------------------------------------------------------------------------


def test_each_call_is_logged_once_without_secrets_or_tokens(rsps, ct, caplog):
    add_token(rsps, "tok-secret-abcdef")
    rsps.get(f"{BASE}/customers", status=503)
    rsps.get(f"{BASE}/customers", json={"results": []})
    caplog.set_level(logging.DEBUG)

    ct.query("customers", where='email = "jane.doe@example.com"')

    calls = [r.json_fields for r in caplog.records if r.getMessage() == "http.call"]
    assert [(c["service"], c["status"], c["attempt"], c["retry"]) for c in calls] == [
        ("commercetools-auth", 200, 1, False),
        ("commercetools", 503, 1, True),
        ("commercetools", 200, 2, False),
    ]
    assert calls[1]["path"].startswith("/demo/customers?where=")
    assert "j***@example.com" in calls[1]["path"]
    everything = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert "jane.doe@example.com" not in everything
    assert SECRET not in everything
    assert "tok-secret-abcdef" not in everything


# --- predicate literals ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('x\\"', '"x\\\\\\""'),
        ("ümlaut ✓", '"ümlaut ✓"'),
    ],
)
def test_literal_escapes_backslashes_and_quotes(value, expected):
    assert literal(value) == expected


def test_no_value_can_close_the_literal_and_add_a_clause():
    # The commercetools stand-in's predicate parser plays the API's grammar.
    from sandbox.commercetools.predicates import matches

    resources = [{"id": "a", "paymentInfo": {"payments": [{"id": "p1"}]}}, {"id": "b"}]
    hostile = 'nope")) or id is defined or paymentInfo(payments(id = "nope'
    where = f"paymentInfo(payments(id = {literal(hostile)}))"
    assert [r["id"] for r in resources if matches(where, r)] == []
    where = f"id in {literal_list(['a', hostile])}"
    assert [r["id"] for r in resources if matches(where, r)] == ["a"]


def test_literal_refuses_what_is_not_a_string():
    with pytest.raises(TypeError):
        literal(5)  # type: ignore[arg-type]
