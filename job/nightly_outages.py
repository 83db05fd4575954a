"""Provider accounts that keep failing during a nightly run (`job/nightly.py`).

An account whose calls failed transiently `OUTAGE_AFTER` times in a row (each after its
client's own retries) is out for the rest of the run, apart from one probe every
`OUTAGE_PROBE_SECONDS`: its customers are handed back (`HandedBack`) for the next run instead
of each waiting out the client's retries. Only the provider's own failures count
(`from_provider`): commercetools and the run's budget are not the provider being out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.customers.provider_writeback import ProviderWritebackTimeout
from shared.errors import CommercetoolsError, TransientError
from shared.logs import log_event

# The events are the nightly run's: they keep its logger.
logger = logging.getLogger("job.nightly")

# A provider account whose calls failed transiently this many times in a row (each after its
# client's own retries) is taken as out for the run: its customers are handed back at once.
OUTAGE_AFTER = 3
# While out, one customer of the account tries again this often (the outage may end mid-run).
OUTAGE_PROBE_SECONDS = 60.0


class HandedBack(Exception):
    """The customer's provider account is out: nothing was written, a later run looks again."""

    def __init__(self, account: str, error: str) -> None:
        super().__init__(f"{account}: {error}")
        self.account = account
        self.error = error


def from_provider(exc: TransientError) -> bool:
    """A failure of the provider itself, not of commercetools nor of the run's own budget."""
    return not isinstance(exc, CommercetoolsError | ProviderWritebackTimeout)


class ProviderOutages:
    """Provider accounts failing in this run (shared by the worker threads).

    `OUTAGE_AFTER` transient failures in a row take an account out; while out, `down` lets one
    call through every `OUTAGE_PROBE_SECONDS`, and a success brings the account back."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._down_since: dict[str, float] = {}
        self._errors: dict[str, str] = {}
        self.unavailable: dict[str, str] = {}  # every account that was out during the run

    def down(self, account: str) -> str | None:
        """The error the account is out with, or None when a call may go (a probe too)."""
        with self._lock:
            since = self._down_since.get(account)
            if since is None:
                return None
            if self._monotonic() - since >= OUTAGE_PROBE_SECONDS:
                self._down_since[account] = self._monotonic()  # this call probes; others wait
                return None
            return self._errors.get(account, "unavailable")

    def failed(self, account: str, error: str) -> bool:
        """Note a transient failure; True when it takes (or keeps) the account out."""
        with self._lock:
            count = self._failures.get(account, 0) + 1
            self._failures[account] = count
            self._errors[account] = error
            if count < OUTAGE_AFTER:
                return False
            opened = account not in self._down_since
            self._down_since[account] = self._monotonic()
            self.unavailable.setdefault(account, error)
        if opened:
            log_event(
                logger,
                "job.provider_unavailable",
                level=logging.WARNING,
                account=account,
                error=error,
                failures=count,
                outcome="handed_back",
                retry="next_run",
            )
        return True

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(account, None)
            self._down_since.pop(account, None)
