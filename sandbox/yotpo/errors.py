"""The one error the Yotpo stand-in's program raises: an answer other than 200 with the
`{"error": ...}` body the real API uses. The Flask app turns it into that answer."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than 200 with the `{"error": ...}` body the real API uses."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
