"""Idempotent Yotpo calls: the first answer to a POS request is kept and given again.

Redemptions and their reversals are the API's only direct Yotpo writes, and Yotpo has no
idempotency key. The first answer to `(key id, request id)` is stored as a custom object in
`yotpo-loyalty-pos-requests`, created with `version: 0` (create only): of two instances racing
on one request, exactly one stores its answer; the other reads the winner's and gives that.
A fingerprint of the request body tells a retry from a different request reusing the id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.instore.access import Principal
from service.instore.problems import request_id_reused
from shared.commercetools import CommercetoolsClient
from shared.errors import ConcurrentModificationError

CONTAINER = "yotpo-loyalty-pos-requests"


def fingerprint(kind: str, body: dict[str, Any]) -> str:
    """The request's identity apart from its request id."""
    content = {k: v for k, v in body.items() if k != "request_id"}
    canonical = json.dumps({"kind": kind, "body": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_key(principal: Principal, request_id: str) -> str:
    """`<key id>-<request id>`, or `<key id>.<request id>` for a key id with a dash.

    Neither part may hold a ".", so the dotted form never equals another pair's; dash-free
    key ids keep the original form, so records written before dashes were allowed still match.
    """
    separator = "." if "-" in principal.key_id else "-"
    return f"{principal.key_id}{separator}{request_id}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    """The body as a custom object keeps it: unknown (null) fields left out, so the first
    answer and every replay of it are the same JSON."""
    return {k: v for k, v in body.items() if v is not None}


class RequestLog:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def recall(self, principal: Principal, request_id: str, digest: str) -> Answer | None:
        """The stored answer to this request; 409 when the id was used for another request."""
        found = self._ct.get_custom_object(CONTAINER, request_key(principal, request_id))
        if found is None:
            return None
        value = found.get("value") or {}
        if value.get("fingerprint") != digest:
            raise request_id_reused()
        return Answer(int(value["status"]), _stored(dict(value["body"])))

    def keep(
        self, principal: Principal, request_id: str, digest: str, answer: Answer
    ) -> tuple[Answer, bool]:
        """(the answer to give, whether it is ours): a lost race gives the winner's answer."""
        answer = Answer(answer.status, _stored(answer.body))
        value = {
            "keyId": principal.key_id,
            "requestId": request_id,
            "fingerprint": digest,
            "status": answer.status,
            "body": answer.body,
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            self._ct.put_custom_object(
                CONTAINER, request_key(principal, request_id), value, version=0
            )
        except ConcurrentModificationError:
            winner = self.recall(principal, request_id, digest)
            if winner is None:  # created and deleted in between: nobody else answered
                raise
            return winner, False
        return answer, True
