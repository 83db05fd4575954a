"""What some Voyado calls answer, as the connector reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PointTransactionsResult:
    """The accepted answer of POST point-accounts/transactions: rows it skipped and why
    ("check the response for NotAccepted items", PointAccountsService.md)."""

    not_accepted: tuple[dict[str, Any], ...] = ()
    error_messages: tuple[str, ...] = ()
    missing_definition_ids: tuple[Any, ...] = ()
    missing_contact_ids: tuple[str, ...] = ()

    @property
    def all_accepted(self) -> bool:
        return not self.not_accepted and not self.missing_contact_ids

    @classmethod
    def from_answer(cls, answer: Any) -> PointTransactionsResult:
        if not isinstance(answer, Mapping):
            return cls()

        def rows(*names: str) -> tuple[Any, ...]:
            for name in names:
                value = answer.get(name)
                if isinstance(value, list):
                    return tuple(value)
            return ()

        return cls(
            not_accepted=tuple(
                r for r in rows("notAccepted", "NotAccepted") if isinstance(r, dict)
            ),
            error_messages=tuple(str(m) for m in rows("errorMessages", "ErrorMessages")),
            missing_definition_ids=rows("missingDefinitionIds", "MissingDefinitionIds"),
            missing_contact_ids=tuple(
                str(c) for c in rows("missingContactIds", "MissingContactIds")
            ),
        )


@dataclass(frozen=True)
class VoucherOutcome:
    """What a redeem or reactivate did: `done` now, or found `already` in that state (the
    documented 409 on a repeat). `voucher`: the answer's body when there is one."""

    outcome: Literal["done", "already"]
    voucher: dict[str, Any] = field(default_factory=dict)
