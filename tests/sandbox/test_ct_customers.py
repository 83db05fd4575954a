"""Customers keep `dateOfBirth` (CustomerDraft, Set Date of Birth:
https://docs.commercetools.com/api/projects/customers) and say so in a message
(CustomerDateOfBirthSet, https://docs.commercetools.com/api/message-types)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.commercetools import create_app
from tests.sandbox.test_commercetools_standin import Api, customer_draft, new_state


@pytest.fixture
def api() -> Iterator[Api]:
    state = new_state()
    yield Api(create_app(state).test_client(), state)
    state.close()


def _messages(api: Api, customer_id: str) -> list[dict]:
    return api.get("messages", where=f'resource(id = "{customer_id}")', sort="sequenceNumber asc")[
        "results"
    ]


def test_a_customer_draft_keeps_its_date_of_birth(api: Api) -> None:
    created = api.post("customers", customer_draft(dateOfBirth="1990-03-14"))["customer"]
    assert created["dateOfBirth"] == "1990-03-14"
    assert api.get(f"customers/{created['id']}")["dateOfBirth"] == "1990-03-14"
    found = api.get("customers", where='dateOfBirth = "1990-03-14"')
    assert [c["id"] for c in found["results"]] == [created["id"]]
    # Without one the field is absent, not null.
    other = api.post("customers", customer_draft(2))["customer"]
    assert "dateOfBirth" not in other


def test_set_date_of_birth_changes_and_unsets_it_with_a_message(api: Api) -> None:
    customer = api.post("customers", customer_draft())["customer"]
    born = api.update(
        "customers", customer, {"action": "setDateOfBirth", "dateOfBirth": "1985-12-31"}
    )
    assert born["dateOfBirth"] == "1985-12-31" and born["version"] == customer["version"] + 1
    unset = api.update("customers", born, {"action": "setDateOfBirth"})
    assert "dateOfBirth" not in unset
    messages = [m for m in _messages(api, customer["id"]) if m["type"] == "CustomerDateOfBirthSet"]
    assert [m.get("dateOfBirth") for m in messages] == ["1985-12-31", None]
    assert "dateOfBirth" not in messages[1]
    assert messages[0]["resourceVersion"] == born["version"]
    # The same date again changes nothing and says nothing.
    again = api.update("customers", unset, {"action": "setDateOfBirth"})
    assert again["version"] == unset["version"]


@pytest.mark.parametrize("bad", ["14.03.1990", "1990-02-30", "1990-3-14", 19900314, ""])
def test_a_date_of_birth_that_is_no_date_is_refused(api: Api, bad: object) -> None:
    status, body = api.error("POST", "customers", customer_draft(dateOfBirth=bad))
    assert status == 400 and body["errors"][0]["code"] == "InvalidJsonInput"
    customer = api.post("customers", customer_draft(3))["customer"]
    status, _ = api.error(
        "POST",
        f"customers/{customer['id']}",
        {
            "version": customer["version"],
            "actions": [{"action": "setDateOfBirth", "dateOfBirth": bad}],
        },
    )
    assert status == 400
    assert "dateOfBirth" not in api.get(f"customers/{customer['id']}")
