"""The Voyado Engage API: the client (`client`), its failures (`errors`), what some calls
answer (`answers`), exact JSON amounts (`numbers`) and Svix webhook signatures (`svix`).

The names callers use are importable from `shared.voyado` itself.
"""

from shared.voyado.answers import PointTransactionsResult, VoucherOutcome
from shared.voyado.client import (
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DEFAULT_USER_AGENT,
    IDEMPOTENCY_TTL_SECONDS,
    MAX_POINT_TRANSACTION_ROWS,
    VoyadoClient,
    VoyadoCodes,
    VoyadoPaths,
)
from shared.voyado.errors import (
    AmbiguousContact,
    SvixVerificationError,
    VoyadoAuthError,
    VoyadoError,
    VoyadoPermanentError,
    VoyadoRateLimited,
    VoyadoTransientError,
)
from shared.voyado.numbers import encode_json, receipt_numbers
from shared.voyado.svix import SVIX_TOLERANCE_SECONDS, verify_svix

__all__ = [
    "DEFAULT_RATE_LIMIT_PER_SECOND",
    "DEFAULT_USER_AGENT",
    "IDEMPOTENCY_TTL_SECONDS",
    "MAX_POINT_TRANSACTION_ROWS",
    "SVIX_TOLERANCE_SECONDS",
    "AmbiguousContact",
    "PointTransactionsResult",
    "SvixVerificationError",
    "VoucherOutcome",
    "VoyadoAuthError",
    "VoyadoClient",
    "VoyadoCodes",
    "VoyadoError",
    "VoyadoPaths",
    "VoyadoPermanentError",
    "VoyadoRateLimited",
    "VoyadoTransientError",
    "encode_json",
    "receipt_numbers",
    "verify_svix",
]
