"""Customers, customer groups, types, payments, discount codes, extensions, subscriptions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sandbox.commercetools import predicates
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import (
    FIELD_TYPES,
    custom_from_draft,
)
from sandbox.commercetools.custom_actions import set_custom_field_action, set_custom_type_action
from sandbox.commercetools.errors import ApiError, invalid_input, invalid_json, invalid_operation
from sandbox.commercetools.kinds import (
    Action,
    Kind,
    Resource,
    checked_key,
    choice,
    reference,
    required,
    set_key,
    set_or_drop,
    text,
)
from sandbox.commercetools.money import money, parse_money

TRANSACTION_TYPES = frozenset(
    {"Authorization", "CancelAuthorization", "Charge", "Refund", "Chargeback"}
)
TRANSACTION_STATES = frozenset({"Initial", "Pending", "Success", "Failure"})
EXTENSION_ACTIONS = frozenset({"Create", "Update"})
MAX_EXTENSION_TIMEOUT_MS = 10_000


def _optional(draft: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: draft[n] for n in names if draft.get(n) is not None}


# --- customers -------------------------------------------------------------------------------
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_of_birth(value: Any) -> str | None:
    """`dateOfBirth` is a Date, `YYYY-MM-DD` (CustomerDraft and Set Date of Birth,
    https://docs.commercetools.com/api/projects/customers#customerdraft,
    https://docs.commercetools.com/api/projects/customers#set-date-of-birth); a value that is
    no date is not valid JSON for the field."""
    if value is None:
        return None
    try:
        if isinstance(value, str) and _DATE.match(value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise invalid_json(
        f"Request body does not contain valid JSON: 'dateOfBirth': '{value}' is not a date."
    )


def build_customer(draft: dict[str, Any], ctx: Context) -> Resource:
    email = text(draft, "email")
    if "@" not in (email or ""):
        raise invalid_input(f"'{email}' is not a valid email address.", field="email")
    customer: Resource = {
        "key": checked_key(draft.get("key")),
        "customerNumber": draft.get("customerNumber"),
        # Optional identifier for use in external systems, e.g. a migrated loyalty member id
        # (https://docs.commercetools.com/api/projects/customers#customerdraft).
        "externalId": draft.get("externalId"),
        "email": email,
        "firstName": draft.get("firstName"),
        "lastName": draft.get("lastName"),
        "dateOfBirth": _date_of_birth(draft.get("dateOfBirth")),
        "addresses": list(draft.get("addresses") or []),
        "shippingAddressIds": [],
        "billingAddressIds": [],
        "isEmailVerified": bool(draft.get("isEmailVerified", False)),
        "stores": [{"typeId": "store", "key": s.get("key")} for s in draft.get("stores") or []],
        "authenticationMode": draft.get("authenticationMode", "Password"),
        # Required on Customer (RAML types/customer/Customer.raml).
        "customerGroupAssignments": list(draft.get("customerGroupAssignments") or []),
    }
    if draft.get("customerGroup") is not None:
        group = ctx.resolve("customer-group", draft["customerGroup"])
        customer["customerGroup"] = reference("customer-group", group)
    customer["custom"] = custom_from_draft(draft.get("custom"), ctx, "customer")
    return {k: v for k, v in customer.items() if v is not None}


def _change_email(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    email = text(act, "email")
    if "@" not in (email or ""):
        raise invalid_input(f"'{email}' is not a valid email address.", field="email")
    old = c.get("email")
    if old != email:
        c["email"] = email
        c["isEmailVerified"] = False
        # The project's reference lists `oldEmail` too; consumers may rely on either.
        emit("CustomerEmailChanged", email=email, oldEmail=old)


def _name_setter(field_name: str, message: str) -> Action:
    def action(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
        value = act.get(field_name)
        if c.get(field_name) != value:
            set_or_drop(c, field_name, value)
            emit(message, **{field_name: value} if value is not None else {})

    return action


def _set_customer_group(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    given = act.get("customerGroup")
    new = (
        None if given is None else reference("customer-group", ctx.resolve("customer-group", given))
    )
    if c.get("customerGroup") != new:
        set_or_drop(c, "customerGroup", new)
        emit("CustomerGroupSet", **({"customerGroup": new} if new else {}))


def _set_external_id(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    # https://docs.commercetools.com/api/projects/customers#set-external-id
    set_or_drop(c, "externalId", act.get("externalId"))


def _set_date_of_birth(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    # https://docs.commercetools.com/api/projects/customers#set-date-of-birth: "If not
    # defined, the date of birth is unset"; the CustomerDateOfBirthSet message carries it
    # (https://docs.commercetools.com/api/message-types#customerdateofbirthsetmessage).
    born = _date_of_birth(act.get("dateOfBirth"))
    if c.get("dateOfBirth") != born:
        set_or_drop(c, "dateOfBirth", born)
        emit("CustomerDateOfBirthSet", **({"dateOfBirth": born} if born else {}))


def _set_customer_number(c: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    if c.get("customerNumber") is not None:
        raise invalid_operation("The customer number can only be set once.")
    set_or_drop(c, "customerNumber", act.get("customerNumber"))


CUSTOMERS = Kind(
    "customers",
    "customer",
    build_customer,
    {
        "changeEmail": _change_email,
        "setFirstName": _name_setter("firstName", "CustomerFirstNameSet"),
        "setLastName": _name_setter("lastName", "CustomerLastNameSet"),
        "setCustomerGroup": _set_customer_group,
        "setCustomerNumber": _set_customer_number,
        "setDateOfBirth": _set_date_of_birth,
        "setExternalId": _set_external_id,
        "setCustomType": set_custom_type_action("customer"),
        "setCustomField": set_custom_field_action,
        "setKey": set_key,
    },
    created_message=("CustomerCreated", "customer"),
)


# --- customer groups -------------------------------------------------------------------------
def build_customer_group(draft: dict[str, Any], ctx: Context) -> Resource:
    group = {"key": checked_key(draft.get("key")), "name": text(draft, "groupName")}
    group["custom"] = custom_from_draft(draft.get("custom"), ctx, "customer-group")
    return {k: v for k, v in group.items() if v is not None}


def _change_group_name(g: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    g["name"] = text(act, "name")


CUSTOMER_GROUPS = Kind(
    "customer-groups",
    "customer-group",
    build_customer_group,
    {"changeName": _change_group_name, "setKey": set_key},
)


# --- types -----------------------------------------------------------------------------------
def _field_definition(draft: Any) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise invalid_input("A field definition must be an object.")
    name = text(draft, "name")
    field_type = required(draft, "type")
    if not isinstance(field_type, dict) or field_type.get("name") not in FIELD_TYPES:
        raise invalid_input(f"Field '{name}' has an unsupported type {field_type!r}.")
    if field_type["name"] == "Set":
        element = field_type.get("elementType")
        if not isinstance(element, dict) or element.get("name") not in FIELD_TYPES - {"Set"}:
            raise invalid_input(f"Set field '{name}' needs a supported 'elementType'.")
    return {
        "name": name,
        "label": draft.get("label") or {"en": name},
        "required": bool(draft.get("required", False)),
        "type": field_type,
        "inputHint": draft.get("inputHint", "SingleLine"),
    }


def build_type(draft: dict[str, Any], ctx: Context) -> Resource:
    resource_types = required(draft, "resourceTypeIds")
    if not isinstance(resource_types, list) or not all(isinstance(t, str) for t in resource_types):
        raise invalid_input("'resourceTypeIds' must be a list of strings.")
    definitions = [_field_definition(d) for d in draft.get("fieldDefinitions") or []]
    names = [d["name"] for d in definitions]
    if len(set(names)) != len(names):
        raise ApiError.single(400, "DuplicateFieldDefinition", "Field names must be unique.")
    type_ = {
        "key": checked_key(required(draft, "key")),
        "name": required(draft, "name"),
        "description": draft.get("description"),
        "resourceTypeIds": resource_types,
        "fieldDefinitions": definitions,
    }
    return {k: v for k, v in type_.items() if v is not None}


def _add_field_definition(
    t: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    definition = _field_definition(required(act, "fieldDefinition"))
    if any(d["name"] == definition["name"] for d in t["fieldDefinitions"]):
        raise ApiError.single(
            400,
            "DuplicateFieldDefinition",
            f"A field definition with name '{definition['name']}' already exists.",
            fieldName=definition["name"],
        )
    t["fieldDefinitions"].append(definition)


def _remove_field_definition(
    t: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    name = text(act, "fieldName")
    kept = [d for d in t["fieldDefinitions"] if d["name"] != name]
    if len(kept) == len(t["fieldDefinitions"]):
        raise invalid_operation(f"The type has no field definition '{name}'.")
    t["fieldDefinitions"] = kept


def _change_type_name(t: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    t["name"] = required(act, "name")


def _set_type_description(
    t: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    set_or_drop(t, "description", act.get("description"))


def _change_label(t: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    name = text(act, "fieldName")
    for definition in t["fieldDefinitions"]:
        if definition["name"] == name:
            definition["label"] = required(act, "label")
            return
    raise invalid_operation(f"The type has no field definition '{name}'.")


TYPES = Kind(
    "types",
    "type",
    build_type,
    {
        "addFieldDefinition": _add_field_definition,
        "removeFieldDefinition": _remove_field_definition,
        "changeName": _change_type_name,
        "setDescription": _set_type_description,
        "changeLabel": _change_label,
        "setKey": set_key,
    },
)


# --- payments --------------------------------------------------------------------------------
def _money(value: Any, name: str) -> dict[str, Any]:
    return money(*parse_money(value, name))


def transaction(draft: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise invalid_input("'transaction' must be an object.")
    result = {
        "id": ctx.new_id(),
        "timestamp": draft.get("timestamp"),
        "type": choice(draft.get("type"), TRANSACTION_TYPES, "type"),
        "amount": _money(required(draft, "amount"), "amount"),
        "interactionId": draft.get("interactionId"),
        "state": choice(draft.get("state", "Initial"), TRANSACTION_STATES, "state"),
    }
    if draft.get("custom") is not None:
        result["custom"] = custom_from_draft(draft["custom"], ctx, "transaction")
    return {k: v for k, v in result.items() if v is not None}


def build_payment(draft: dict[str, Any], ctx: Context) -> Resource:
    payment: Resource = {
        "key": checked_key(draft.get("key")),
        "interfaceId": draft.get("interfaceId"),
        "amountPlanned": _money(required(draft, "amountPlanned"), "amountPlanned"),
        "paymentMethodInfo": draft.get("paymentMethodInfo") or {},
        "paymentStatus": draft.get("paymentStatus") or {},
        "transactions": [transaction(t, ctx) for t in draft.get("transactions") or []],
        "interfaceInteractions": [],
    }
    if draft.get("customer") is not None:
        payment["customer"] = reference("customer", ctx.resolve("customer", draft["customer"]))
    payment["custom"] = custom_from_draft(draft.get("custom"), ctx, "payment")
    return {k: v for k, v in payment.items() if v is not None}


def _add_transaction(p: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    added = transaction(required(act, "transaction"), ctx)
    p["transactions"].append(added)
    emit("PaymentTransactionAdded", transaction=added)


def _find_transaction(p: Resource, act: dict[str, Any]) -> dict[str, Any]:
    wanted = act.get("transactionId")
    for candidate in p["transactions"]:
        if candidate["id"] == wanted:
            return candidate
    raise invalid_operation(f"The payment has no transaction with id '{wanted}'.")


def _change_transaction_state(
    p: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    found = _find_transaction(p, act)
    state = choice(act.get("state"), TRANSACTION_STATES, "state")
    if found["state"] != state:
        found["state"] = state
        emit("PaymentTransactionStateChanged", transactionId=found["id"], state=state)


def _change_transaction_interaction(
    p: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    _find_transaction(p, act)["interactionId"] = text(act, "interactionId")


def _change_amount_planned(
    p: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    p["amountPlanned"] = _money(required(act, "amount"), "amount")


PAYMENTS = Kind(
    "payments",
    "payment",
    build_payment,
    {
        "addTransaction": _add_transaction,
        "changeTransactionState": _change_transaction_state,
        "changeTransactionInteractionId": _change_transaction_interaction,
        "changeAmountPlanned": _change_amount_planned,
        "setCustomType": set_custom_type_action("payment"),
        "setCustomField": set_custom_field_action,
        "setKey": set_key,
    },
    created_message=("PaymentCreated", "payment"),
)


# --- extensions ------------------------------------------------------------------------------
def _extension_destination(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") != "HTTP":
        raise invalid_input("The stand-in supports extension destinations of type 'HTTP'.")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid_input("An HTTP destination needs an absolute 'url'.")
    destination: dict[str, Any] = {"type": "HTTP", "url": url}
    auth = value.get("authentication")
    if auth is not None:
        if not isinstance(auth, dict) or auth.get("type") not in (
            "AuthorizationHeader",
            "AzureFunctions",
        ):
            raise invalid_input("'authentication' must be AuthorizationHeader or AzureFunctions.")
        destination["authentication"] = auth
    return destination


def _triggers(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise invalid_input("An extension needs at least one trigger.")
    triggers = []
    for trigger in value:
        if not isinstance(trigger, dict) or not isinstance(trigger.get("resourceTypeId"), str):
            raise invalid_input("Each trigger needs a 'resourceTypeId'.")
        actions = trigger.get("actions")
        if not isinstance(actions, list) or not actions or not set(actions) <= EXTENSION_ACTIONS:
            raise invalid_input("Trigger 'actions' must be a non-empty list of Create/Update.")
        checked = {"resourceTypeId": trigger["resourceTypeId"], "actions": actions}
        condition = trigger.get("condition")
        if condition is not None:
            try:
                predicates.parse(condition)
            except predicates.PredicateError as exc:
                raise invalid_input(f"Malformed trigger condition '{condition}': {exc}") from None
            checked["condition"] = condition
        triggers.append(checked)
    return triggers


def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_EXTENSION_TIMEOUT_MS
    ):
        raise invalid_input(f"'timeoutInMs' must be between 1 and {MAX_EXTENSION_TIMEOUT_MS}.")
    return value


MAX_EXTENSION_DEPENDENCIES = 5


def _dependencies(value: Any, ctx: Context) -> list[dict[str, Any]] | None:
    """`ExtensionDraft.dependencies`: at most 5 ExtensionResourceIdentifiers, stored as
    references (https://docs.commercetools.com/api/releases/2026-05-04-added-extension-chaining-to-api-extensions-in-public-beta)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_EXTENSION_DEPENDENCIES:
        raise invalid_input(
            f"'dependencies' must be a list of at most {MAX_EXTENSION_DEPENDENCIES} extensions."
        )
    return [reference("extension", ctx.resolve("extension", d)) for d in value]


def build_extension(draft: dict[str, Any], ctx: Context) -> Resource:
    extension = {
        "key": checked_key(draft.get("key")),
        "destination": _extension_destination(draft.get("destination")),
        "triggers": _triggers(draft.get("triggers")),
        "timeoutInMs": _timeout(draft.get("timeoutInMs")),
        "dependencies": _dependencies(draft.get("dependencies"), ctx),
    }
    return {k: v for k, v in extension.items() if v is not None}


def _set_dependencies(e: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    given = _dependencies(required(act, "dependencies"), ctx) or []
    if any(d["id"] == e["id"] for d in given):
        raise invalid_input("An extension cannot depend on itself.")
    set_or_drop(e, "dependencies", given or None)


def _change_extension_destination(
    e: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    e["destination"] = _extension_destination(act.get("destination"))


def _change_triggers(e: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    e["triggers"] = _triggers(act.get("triggers"))


def _set_timeout(e: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_or_drop(e, "timeoutInMs", _timeout(act.get("timeoutInMs")))


EXTENSIONS = Kind(
    "extensions",
    "extension",
    build_extension,
    {
        "changeDestination": _change_extension_destination,
        "changeTriggers": _change_triggers,
        "setTimeoutInMs": _set_timeout,
        "setDependencies": _set_dependencies,
        "setKey": set_key,
    },
)


# --- subscriptions ---------------------------------------------------------------------------
def _subscription_destination(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") != "GoogleCloudPubSub":
        raise invalid_input("The stand-in delivers to destinations of type 'GoogleCloudPubSub'.")
    project_id, topic = value.get("projectId"), value.get("topic")
    if not isinstance(project_id, str) or not project_id or not isinstance(topic, str) or not topic:
        raise invalid_input("A GoogleCloudPubSub destination needs 'projectId' and 'topic'.")
    return {"type": "GoogleCloudPubSub", "projectId": project_id, "topic": topic}


def _message_subscriptions(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_input("'messages' must be a list.")
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("resourceTypeId"), str):
            raise invalid_input("Each message subscription needs a 'resourceTypeId'.")
        types = item.get("types") or []
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise invalid_input("Message subscription 'types' must be a list of strings.")
        result.append({"resourceTypeId": item["resourceTypeId"], "types": types})
    return result


def _change_subscriptions(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(c, dict) and isinstance(c.get("resourceTypeId"), str) for c in value
    ):
        raise invalid_input("'changes' must be a list of {resourceTypeId}.")
    return [{"resourceTypeId": c["resourceTypeId"]} for c in value]


def build_subscription(draft: dict[str, Any], ctx: Context) -> Resource:
    messages = _message_subscriptions(draft.get("messages"))
    changes = _change_subscriptions(draft.get("changes"))
    if not messages and not changes:
        raise invalid_input("A subscription needs 'messages' or 'changes'.")
    subscription = {
        "key": checked_key(draft.get("key")),
        "destination": _subscription_destination(draft.get("destination")),
        "messages": messages,
        "changes": changes,
        # Subscription.events is required (EventSubscription[], RAML types/subscription).
        "events": list(draft.get("events") or []),
        "format": draft.get("format") or {"type": "Platform"},
        "status": "Healthy",
    }
    return {k: v for k, v in subscription.items() if v is not None}


def _change_subscription_destination(
    s: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    s["destination"] = _subscription_destination(act.get("destination"))


def _set_messages(s: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    s["messages"] = _message_subscriptions(act.get("messages"))


def _set_changes(s: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    s["changes"] = _change_subscriptions(act.get("changes"))


SUBSCRIPTIONS = Kind(
    "subscriptions",
    "subscription",
    build_subscription,
    {
        "changeDestination": _change_subscription_destination,
        "setMessages": _set_messages,
        "setChanges": _set_changes,
        "setKey": set_key,
    },
)
