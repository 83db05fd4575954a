"""How a webhook's write-back ends, logged the same way for every provider's webhooks
(`service/webhooks.py` for Yotpo, `service/voyado_webhooks.py` for Voyado Engage).

`<prefix>.written_back` carries the write-back's outcome and the fields it changed;
`<prefix>.writeback_failed` a permanent failure: retrying the delivery cannot help until
someone fixes the cause, so it is answered (2xx) and the nightly run catches up.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.customers.writeback import WritebackResult
from shared.errors import PermanentError
from shared.logs import log_event, log_failure


def written_back(
    logger: logging.Logger, prefix: str, result: WritebackResult, **fields: Any
) -> str:
    log_event(
        logger,
        f"{prefix}.written_back",
        **fields,
        customer_id=result.customer_id,
        changed=list(result.changed),
        outcome=result.outcome,
    )
    return result.outcome


def writeback_failed(
    logger: logging.Logger, prefix: str, exc: PermanentError, **fields: Any
) -> str:
    log_failure(logger, f"{prefix}.writeback_failed", exc, outcome="failed", **fields)
    return "failed"
