"""Dead letters for orders the job could not finish, so `python -m event replay` resends them.

The live path dead-letters the *message* that failed; the job has no message, only an order id.
It writes a dead letter in the same store (`shared.deadletters.DeadLetterStore`, container
`yotpo-loyalty-dead-letters`) under a message id of its own, `job-order-<order id>`, whose
reference says where it came from (`source: "job"`) and whose notification is the
`OrderCreated` message commercetools would have sent for the order (Messages API reference:
https://docs.commercetools.com/api/projects/messages, "OrderCreated"), so the record reads like
any other dead letter. `event/replay.py` recognises the source and reconciles the order directly
(reset its failed operations, then `OrderReconciler.reconcile`): one path, whatever a future
change to message routing does.

Writing the same order twice updates one record (the id is per order), so re-running a
backfill over failed orders never piles up duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.deadletters import DeadLetterStore, FailureRecord
from shared.domain.orders.ledger import NOTHING_LEFT_TO_REFUND, OpStatus, OrderLedger
from shared.logs import log_event

logger = logging.getLogger(__name__)

JOB_SOURCE = "job"
_PREFIX = "job-order-"


def job_message_id(order_id: str) -> str:
    return f"{_PREFIX}{order_id}"


def job_order_id(record: FailureRecord) -> str | None:
    """The order a job-written dead letter is about; None for a live message's dead letter."""
    reference = record.reference or {}
    if reference.get("source") != JOB_SOURCE:
        return None
    resource = reference.get("resource") or {}
    order_id = resource.get("id")
    if resource.get("typeId") != "order" or not isinstance(order_id, str) or not order_id:
        return None
    return order_id


def order_notification(order_id: str, project_key: str, message_id: str) -> dict[str, Any]:
    return {
        "notificationType": "Message",
        "projectKey": project_key,
        "id": message_id,
        "type": "OrderCreated",
        "resource": {"typeId": "order", "id": order_id},
    }


def failed_ops(ledger: OrderLedger | None) -> list[tuple[str, str]]:
    """(operation key, Yotpo's reason) of the ledger's refused operations that a replay can
    still send (a refund with nothing left to give back never can)."""
    if ledger is None:
        return []
    return [
        (op.key, op.error or "no reason recorded")
        for op in ledger.ops.values()
        if op.status == OpStatus.FAILED and op.error != NOTHING_LEFT_TO_REFUND
    ]


@dataclass(frozen=True)
class OrderFailure:
    """One order the job could not finish, as people read it: name, what, why."""

    order_id: str
    name: str
    failure: Literal["transient", "permanent"]
    error: str
    dead_lettered: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "order": self.name,
            "failure": self.failure,
            "error": self.error,
            "dead_lettered": self.dead_lettered,
        }


class JobDeadLetters:
    def __init__(self, store: DeadLetterStore, project_key: str, *, task: str) -> None:
        self._store = store
        self._project_key = project_key
        self._task = task

    def bury(
        self,
        order_id: str,
        error: str,
        *,
        failure: Literal["transient", "permanent"] = "permanent",
    ) -> bool:
        """Record the order as a dead letter; False (logged) if commercetools refused it."""
        message_id = job_message_id(order_id)
        reference: Mapping[str, Any] = {
            "messageId": message_id,
            "source": JOB_SOURCE,
            "task": self._task,
            "type": "OrderCreated",
            "resource": {"typeId": "order", "id": order_id},
        }
        try:
            self._store.bury(
                message_id,
                dict(reference),
                order_notification(order_id, self._project_key, message_id),
                error=error,
                failure=failure,
                attempts=1,
            )
        except Exception as exc:  # the run goes on; the ledger still shows the failure
            log_event(
                logger,
                "job.deadletter_write_failed",
                level=logging.ERROR,
                order_id=order_id,
                task=self._task,
                error=f"{type(exc).__name__}: {exc}",
                outcome="not_recorded",
            )
            return False
        log_event(
            logger,
            "job.order_dead_lettered",
            level=logging.ERROR,
            order_id=order_id,
            task=self._task,
            message_id=message_id,
            error=error,
            failure=failure,
            outcome="dead_lettered",
            retry=False,
        )
        return True
