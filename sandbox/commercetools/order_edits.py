"""Order Edits (<https://docs.commercetools.com/api/projects/order-edits>): containers of staged
order update actions, previewed (dry run) and applied to their order, and their endpoints.

- `POST /{projectKey}/orders/edits` takes an OrderEditDraft (`resource`, `stagedActions`,
  `key`, `comment`, `custom`, `dryRun`). A stored edit's `result` is `NotProcessed` until it
  is applied; a dry run is not stored and answers the `PreviewSuccess` (`preview`,
  `messagePayloads`) or `PreviewFailure` (`errors`) of its staged actions on the order as it
  is now ("dynamically pulled by dry-running the update actions ... on the current version
  of the related Order", OrderEditPreviewSuccess).
- `GET /orders/edits`, `/orders/edits/{id}`, `/orders/edits/key={key}`; `DELETE` with
  `?version=`.
- `POST /orders/edits/{id}` (OrderEditUpdate `{version, actions, dryRun?}`): `addStagedAction`,
  `setStagedActions` ("cannot be updated if the Order Edit result is OrderEdit Applied"),
  `setComment`, `setKey`, `setCustomType`, `setCustomField`.
- `POST /orders/edits/{id}/apply` (OrderEditApply `{editVersion, resourceVersion}`): "If the
  `editVersion` and/or `resourceVersion` do not match the actual version, a
  ConcurrentModification error will be returned." Applying replaces the order's lines and
  totals (priced again by the cart pricing), steps its version, stores the `Applied` result
  (`appliedAt`, `excerptBeforeEdit`, `excerptAfterEdit`) and "produces the OrderEditApplied
  Message" (RAML resources/orders.raml) `{edit, result}` after the staged actions' own
  messages, through the subscriptions like every other message.

Where the public docs are silent the stand-in decides, and the README says so: a staged action
that fails on apply answers its own error (400) and changes neither the order nor the edit; an
edit applied once is refused (`InvalidOperation`) when applied again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Unpack

from flask import Flask, jsonify, request

from sandbox.commercetools.custom import custom_from_draft, set_custom_field, set_custom_type
from sandbox.commercetools.errors import (
    ApiError,
    invalid_input,
    invalid_json,
    invalid_operation,
    referenced_not_found,
)
from sandbox.commercetools.kinds import Resource, checked_key, required, unknown_action
from sandbox.commercetools.messages import MessageDraft
from sandbox.commercetools.orders import ORDERS
from sandbox.commercetools.reads import PageQuery, ReadsMixin
from sandbox.commercetools.staged_orders import (
    EditContext,
    applied_result,
    apply_staged,
    check_editable,
    checked_staged_action,
    checked_staged_actions,
)
from sandbox.commercetools.state_core import Delivery, Ident, unchanged

COLLECTION = "order-edits"
TYPE_ID = "order-edit"
NOT_PROCESSED: dict[str, Any] = {"type": "NotProcessed"}


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_json(f"Request body does not contain valid JSON: '{name}' must be a boolean.")
    return value


def _version(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_json(f"Request body does not contain valid JSON: '{name}' is required.")
    return value


def _order_reference(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("typeId") != "order":
        raise invalid_json(
            "Request body does not contain valid JSON: 'resource' must be a Reference "
            "{typeId: 'order', id}."
        )
    if not isinstance(value.get("id"), str):
        raise invalid_json("Request body does not contain valid JSON: 'resource.id' is required.")
    return value


def _comment(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid_input("'comment' must be a string.")
    return value


class OrderEditsMixin(ReadsMixin):
    """Order Edits: created, updated, previewed and applied to their order."""

    def _edit_context(self, order: Resource) -> EditContext:
        return EditContext(self.ctx, self.catalogue, order)

    def _order_of(self, edit: Resource) -> Resource:
        order_id = edit["resource"]["id"]
        found = self.store.get("orders", order_id)
        if found is None:
            raise referenced_not_found("order", order_id)
        return found

    def _edited(self, edit: Resource, order: Resource) -> tuple[Resource, list[MessageDraft]]:
        """The order as applying `edit` leaves it, and the messages that produces."""
        working = copy.deepcopy(order)
        drafts = apply_staged(working, edit["stagedActions"], self._edit_context(order))
        self._advance(working)
        return working, drafts

    def _as_applied(self, edit: Resource, before: Resource, after: Resource) -> Resource:
        applied = copy.deepcopy(edit)
        applied["result"] = applied_result(before, after, after["lastModifiedAt"])
        self._advance(applied)
        return applied

    def _preview(self, edit: Resource, order: Resource) -> dict[str, Any]:
        """OrderEditPreviewSuccess / OrderEditPreviewFailure of `edit` on `order` as it is."""
        try:
            after, drafts = self._edited(edit, order)
        except ApiError as exc:
            return {"type": "PreviewFailure", "errors": copy.deepcopy(exc.errors)}
        applied = self._as_applied(edit, order, after)
        payloads = [{"type": d.type, **copy.deepcopy(d.payload)} for d in drafts]
        payloads.append({"type": "OrderEditApplied", "edit": applied, "result": applied["result"]})
        return {"type": "PreviewSuccess", "preview": after, "messagePayloads": payloads}

    def create_order_edit(self, draft: dict[str, Any]) -> Resource:
        dry_run = _flag(draft.get("dryRun"), "dryRun")
        reference = _order_reference(required(draft, "resource"))
        with self.store.lock:
            order = self.ctx.resolve("order", reference)
            check_editable(order)
            fields = {
                "key": checked_key(draft.get("key")),
                "resource": {"typeId": "order", "id": order["id"]},
                "stagedActions": checked_staged_actions(draft.get("stagedActions")),
                "result": dict(NOT_PROCESSED),
                "comment": _comment(draft.get("comment")),
                "custom": custom_from_draft(draft.get("custom"), self.ctx, TYPE_ID),
            }
            edit = self._new({k: v for k, v in fields.items() if v is not None})
            if dry_run:
                # "preview the edited Order first without persisting it" (OrderEditDraft.dryRun)
                edit["result"] = self._preview(edit, order)
                return edit
            self.store.put(COLLECTION, edit)
            deliveries = self._notifications(TYPE_ID, edit, [], "ResourceCreated", None)
        self._dispatch(deliveries)
        return edit

    def update_order_edit(
        self, ident: Ident, version: int, actions: list[dict[str, Any]], dry_run: bool
    ) -> Resource:
        with self.store.lock:
            stored = self._at_version(COLLECTION, ident, version)
            working = copy.deepcopy(stored)
            for action in actions:
                handler = _EDIT_ACTIONS.get(action.get("action", ""))
                if handler is None:
                    raise unknown_action(action)
                handler(self, working, action)
            if dry_run:
                # "Whether the Order Edit is applied on the Order without persisting it."
                working["result"] = self._preview(working, self._order_of(working))
                return working
            if unchanged(working, stored):
                return stored
            self._advance(working)
            self.store.put(COLLECTION, working)
            deliveries = self._notifications(
                TYPE_ID, working, [], "ResourceUpdated", stored["version"]
            )
        self._dispatch(deliveries)
        return working

    def apply_order_edit(self, ident: Ident, edit_version: int, resource_version: int) -> Resource:
        deliveries: list[Delivery]
        with self.store.lock:
            edit = self._at_version(COLLECTION, ident, edit_version)
            if edit["result"].get("type") == "Applied":
                raise invalid_operation(f"The Order Edit '{edit['id']}' has already been applied.")
            order = self._order_of(edit)
            self._check_version(order, resource_version)
            after, drafts = self._edited(edit, order)
            applied = self._as_applied(edit, order, after)
            drafts.append(
                MessageDraft(
                    "OrderEditApplied",
                    {"edit": copy.deepcopy(applied), "result": copy.deepcopy(applied["result"])},
                )
            )
            deliveries = self._commit(ORDERS, after, drafts, old_version=order["version"])
            self.store.put(COLLECTION, applied)
            deliveries += self._notifications(
                TYPE_ID, applied, [], "ResourceUpdated", edit["version"]
            )
        self._dispatch(deliveries)
        return applied

    def delete_order_edit(self, ident: Ident, version: int | None) -> Resource:
        with self.store.lock:
            stored = self.load(COLLECTION, ident)
            if version is None:
                raise invalid_input("Missing parameter: version.")
            self._check_version(stored, version)
            self.store.remove(COLLECTION, stored["id"])
            deliveries = self._deleted(TYPE_ID, stored)
        self._dispatch(deliveries)
        return stored

    def query_order_edits(self, **params: Unpack[PageQuery]) -> dict[str, Any]:
        return self.query(COLLECTION, **params)


# --- OrderEditUpdateActions --------------------------------------------------------------------
EditAction = Callable[[OrderEditsMixin, Resource, dict[str, Any]], None]


def _not_applied(edit: Resource) -> None:
    if edit["result"].get("type") == "Applied":
        raise invalid_operation(
            "The stagedActions of an Order Edit cannot be updated once it has been applied."
        )


def _add_staged_action(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    _not_applied(edit)
    staged = checked_staged_action(required(act, "stagedAction"))
    edit["stagedActions"].append(copy.deepcopy(staged))


def _set_staged_actions(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    _not_applied(edit)
    if act.get("stagedActions") is None:
        raise invalid_json(
            "Request body does not contain valid JSON: missing required field 'stagedActions'."
        )
    edit["stagedActions"] = checked_staged_actions(act["stagedActions"])


def _set_comment(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    comment = _comment(act.get("comment"))
    if comment is None:
        edit.pop("comment", None)
    else:
        edit["comment"] = comment


def _set_key(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    key = checked_key(act.get("key"))
    if key is None:
        edit.pop("key", None)
    else:
        edit["key"] = key


def _set_custom_type(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    set_custom_type(edit, act, state.ctx, TYPE_ID)


def _set_custom_field(state: OrderEditsMixin, edit: Resource, act: dict[str, Any]) -> None:
    set_custom_field(edit, act, state.ctx)


_EDIT_ACTIONS: dict[str, EditAction] = {
    "addStagedAction": _add_staged_action,
    "setStagedActions": _set_staged_actions,
    "setComment": _set_comment,
    "setKey": _set_key,
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
}


# --- the endpoints -----------------------------------------------------------------------------
def register_routes(
    app: Flask,
    state: OrderEditsMixin,
    project: str,
    *,
    body: Callable[[], dict[str, Any]],
    query_params: Callable[[], dict[str, Any]],
    ident: Callable[[str], Ident],
    version_param: Callable[[], int | None],
) -> None:
    """The Order Edits endpoints; the app's own helpers parse bodies, paging and idents."""
    base = f"/{project}/orders/edits"

    def served(edit: Resource, status: int = 200) -> Any:
        state.observe("OrderEdit", edit, f"{request.method} {request.path}")
        return jsonify(edit), status

    @app.post(base)
    def create_order_edit() -> Any:
        draft = body()
        state.observe("OrderEditDraft", draft, f"POST {request.path}")
        return served(state.create_order_edit(draft), 201)

    @app.get(base)
    def query_order_edits() -> Any:
        page = state.query_order_edits(**query_params())
        state.observe("OrderEditPagedQueryResponse", page, f"GET {request.path}")
        return jsonify(page)

    @app.get(f"{base}/<raw>")
    def get_order_edit(raw: str) -> Any:
        return served(state.get(COLLECTION, ident(raw), request.args.getlist("expand")))

    @app.post(f"{base}/<raw>")
    def update_order_edit(raw: str) -> Any:
        update = body()
        actions = update.get("actions")
        if not isinstance(actions, list) or not all(
            isinstance(a, dict) and isinstance(a.get("action"), str) for a in actions
        ):
            raise invalid_json("Request body does not contain valid JSON: 'actions' is required.")
        version = _version(update, "version")
        dry_run = _flag(update.get("dryRun"), "dryRun")
        state.observe("OrderEditUpdate", update, f"POST {request.path}")
        return served(state.update_order_edit(ident(raw), version, actions, dry_run))

    @app.delete(f"{base}/<raw>")
    def delete_order_edit(raw: str) -> Any:
        return served(state.delete_order_edit(ident(raw), version_param()))

    @app.post(f"{base}/<raw>/apply")
    def apply_order_edit(raw: str) -> Any:
        given = body()
        edit_version = _version(given, "editVersion")
        resource_version = _version(given, "resourceVersion")
        state.observe("OrderEditApply", given, f"POST {request.path}")
        return served(state.apply_order_edit(ident(raw), edit_version, resource_version))
