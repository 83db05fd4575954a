"""The answers the loyalty API refuses with: an HTTP status, a stable code and a reason."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """A refusal the caller can act on; nothing was changed when one is raised."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def not_found(code: str, message: str, **extra: Any) -> Problem:
    return Problem(404, code, message, **extra)


def invalid(code: str, message: str, **extra: Any) -> Problem:
    return Problem(400, code, message, **extra)


def conflict(code: str, message: str, **extra: Any) -> Problem:
    return Problem(409, code, message, **extra)


def refused(code: str, message: str, **extra: Any) -> Problem:
    """422: well-formed, but the loyalty rules (or the order's state) do not allow it."""
    return Problem(422, code, message, **extra)


def request_id_reused() -> Problem:
    return conflict(
        "request_id_reused",
        "this request_id was already used for a different request; use a new one",
    )
