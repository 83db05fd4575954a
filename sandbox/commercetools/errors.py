"""The commercetools error envelope: `{statusCode, message, errors: [{code, message, ...}]}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than 2xx, carrying the error objects commercetools would send."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        if not errors:
            raise ValueError("an API error needs at least one error object")
        super().__init__(errors[0].get("message", ""))
        self.status = status
        self.errors = errors

    @classmethod
    def single(cls, status: int, code: str, message: str, **fields: Any) -> ApiError:
        return cls(status, [{"code": code, "message": message, **fields}])

    def envelope(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "message": self.errors[0]["message"],
            "errors": self.errors,
        }


def invalid_input(message: str, **fields: Any) -> ApiError:
    return ApiError.single(400, "InvalidInput", message, **fields)


def invalid_json(message: str) -> ApiError:
    return ApiError.single(400, "InvalidJsonInput", message, detailedErrorMessage=message)


def invalid_operation(message: str) -> ApiError:
    return ApiError.single(400, "InvalidOperation", message)


def required_field(field: str) -> ApiError:
    return invalid_json(
        f"Request body does not contain valid JSON: missing required field '{field}'."
    )


def duplicate_field(field: str, value: Any) -> ApiError:
    return ApiError.single(
        400,
        "DuplicateField",
        f"A duplicate value '{value}' exists for field '{field}'.",
        field=field,
        duplicateValue=value,
    )


def referenced_not_found(type_id: str, ident: str) -> ApiError:
    return ApiError.single(
        400,
        "ReferencedResourceNotFound",
        f"The referenced object of type '{type_id}' '{ident}' was not found. "
        "It either doesn't exist, or it can't be accessed from this endpoint.",
        typeId=type_id,
    )


def not_found(message: str = "The Resource with the given ID or key was not found.") -> ApiError:
    return ApiError.single(404, "ResourceNotFound", message)


def concurrent_modification(current_version: int, given: int | None = None) -> ApiError:
    shown = "" if given is None else f"{given} "
    return ApiError.single(
        409,
        "ConcurrentModification",
        f"Object {shown}has a different version than expected. Expected: {current_version}.",
        currentVersion=current_version,
    )


def general(status: int, message: str) -> ApiError:
    return ApiError.single(status, "General", message)
