"""The `/_sandbox/...` side of the commercetools stand-in: the request log, observed payloads,
injected faults, push endpoints, the catalogue, reset and the state snapshot."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.commercetools.catalogue import Catalogue, default_catalogue
from sandbox.commercetools.config import Faults, Observation
from sandbox.commercetools.state_core import StateCore
from sandbox.commercetools.store import COLLECTIONS


class AdminMixin(StateCore):
    """Seeds, observes and breaks the stand-in (no commercetools endpoint)."""

    def record_request(self, entry: dict[str, Any]) -> None:
        with self._admin_lock:
            self._request_count += 1
            self._requests.append({"seq": self._request_count, **entry})

    def observed(self) -> list[Observation]:
        with self._admin_lock:
            return list(self._observed)

    def recorded_requests(self, since: int = 0) -> dict[str, Any]:
        with self._admin_lock:
            return {
                "requests": [r for r in self._requests if r["seq"] > since],
                "next": self._request_count,
            }

    def set_faults(self, faults: Faults) -> None:
        with self._admin_lock:
            self.faults = faults

    def take_fault(self, method: str, path: str) -> tuple[int | None, int]:
        """(status to fail this call with or None, latency in ms to add)."""
        with self._admin_lock:
            faults = self.faults
            applies = (faults.method is None or faults.method.upper() == method) and (
                faults.path_prefix is None or path.startswith(faults.path_prefix)
            )
            if faults.error_next > 0 and applies:
                faults.error_next -= 1
                return faults.error_status, faults.latency_ms
            return None, faults.latency_ms

    def set_push_endpoint(self, topic: str, url: str) -> None:
        with self._admin_lock:
            self.push_endpoints[topic] = url

    def set_catalogue(self, catalogue: Catalogue) -> None:
        with self.store.lock:
            self.catalogue = catalogue

    def reset(self) -> None:
        """Back to an empty project with the default catalogue; tokens and push URLs stay."""
        with self.store.lock:
            self.store.reset()
            self.catalogue = default_catalogue()
            self.code_uses = {}
        with self._admin_lock:
            self._requests.clear()
            self.faults = Faults()
        self.deliverer.clear()

    def snapshot(self, include_resources: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {
            "projectKey": self.project_key,
            "counts": self.store.counts(),
            "deliveryMode": self.deliverer.mode,
            "pendingDeliveries": self.deliverer.pending(),
            "pushEndpoints": dict(self.push_endpoints),
            "faults": self.faults.as_json(),
        }
        if include_resources:
            with self.store.lock:
                state["resources"] = {
                    name: [copy.deepcopy(r) for r in self.store.scan(name)] for name in COLLECTIONS
                }
            state["catalogue"] = self.catalogue.describe()
        return state
