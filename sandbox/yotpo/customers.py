"""Customers of the Yotpo stand-in: Create/Update Customer, Set Customer Birthday and Fetch
Customer Details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.yotpo.bodies import CustomerUpsert, truthy, validate, whole_number
from sandbox.yotpo.core import EngineCore
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.state import PROFILE_FIELDS
from sandbox.yotpo.views import customer_view


class CustomersApi(EngineCore):
    """`POST /customers`, `POST /customer_birthdays`, `GET /customers`."""

    def upsert_customer(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = validate(CustomerUpsert, body)
        with self._lock:
            account = self._account(guid)
            member = account.by_customer_id.get(request.id) if request.id else None
            owner = account.by_email.get(request.email)
            if member is None:
                if owner is not None and owner.customer_id not in (None, request.id):
                    raise ApiError(422, "email belongs to another customer id")
                member = owner or self._new_member(account, request.email)
            elif owner is not None and owner is not member:
                raise ApiError(422, "email belongs to another customer")
            if request.id and member.customer_id is None:
                member.customer_id = request.id
                account.by_customer_id[request.id] = member
            self._set_email(account, member, request.email)
            sent = request.model_dump(include=set(PROFILE_FIELDS), exclude_unset=True)
            member.profile.update(sent)
            self._index_profile(account, member)
            return customer_view(account, member, referral=True, history=False)

    def set_customer_birthday(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /customer_birthdays` ("Set Customer Birthday",
        https://loyaltyapi.yotpo.com/reference/set-customer-birthday): the member named by
        `customer_email` ("Provide this or Customer ID") or `customer_id`, its `day`, `month`
        and optional `year`. The page documents no answer body: the stand-in answers `{}`."""
        email = body.get("customer_email")
        customer_id = body.get("customer_id")
        if not (isinstance(email, str) and email.strip()) and not (
            isinstance(customer_id, str | int) and str(customer_id).strip()
        ):
            raise ApiError(422, "customer_email or customer_id is required")
        day, month, year = body.get("day"), body.get("month"), body.get("year")
        if not whole_number(day, 1, 31) or not whole_number(month, 1, 12):
            raise ApiError(422, "day (1-31) and month (1-12) are required")
        if year is not None and not whole_number(year, 1900, 9999):
            raise ApiError(422, "year must be a four-digit year")
        with self._lock:
            account = self._account(guid)
            member = (
                self._lookup(account, "customer_email", email)
                if isinstance(email, str) and email.strip()
                else self._lookup(account, "customer_id", str(customer_id))
            )
            if member is None:
                raise ApiError(404, "customer not found")
            member.birthday = {"day": int(day), "month": int(month)}
            if year is not None:
                member.birthday["year"] = int(year)
        return {}

    def get_customer(self, guid: str, query: Mapping[str, str]) -> dict[str, Any]:
        keys = ("customer_id", "customer_email", "phone_number", "pos_account_id")
        given = {k: query[k].strip() for k in keys if query.get(k, "").strip()}
        if len(given) != 1:
            raise ApiError(400, f"send exactly one of {', '.join(keys)}")
        ((key, value),) = given.items()
        with self._lock:
            account = self._account(guid)
            member = self._lookup(account, key, value)
            if member is None:
                raise ApiError(404, "customer not found")
            return customer_view(
                account,
                member,
                referral=truthy(query.get("with_referral_code")),
                history=truthy(query.get("with_history")),
            )
