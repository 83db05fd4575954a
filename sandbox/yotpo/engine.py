"""The loyalty program behind the Yotpo stand-in: accounts, members, orders, refunds, rewards.

Pure Python and thread-safe (one lock around all state); the Flask app only translates HTTP.
Besides the program itself it decides, per API request, whether an injected fault or the
account's rate limit answers instead (`admit`), and keeps the log of API requests that tests
and benchmarks read back.

Money is integer minor units; points and currency conversions use exact rationals
(`fractions.Fraction` built from decimal strings), never floats.

This module composes the engine from its parts and re-exports the names its importers use;
what each part holds is in `sandbox/yotpo/README.md`:

- `program`: configuration (accounts, currencies, tiers, rewards, silent cases, defaults)
- `faults`: fault-injection configuration and state, the admission verdict
- `bodies`: request bodies and query parsing; `errors`: `ApiError`
- `state`: members, order/refund records, redemptions, one account
- `arithmetic`: points and currency conversion; `views`: how state is shown
- `core`: the engine's state, lifecycle/admin, request log, shared steps
- `admission`, `customers`, `orders`, `points`, `redemptions`: one API area each
"""

from __future__ import annotations

from sandbox.yotpo.admission import AdmissionApi
from sandbox.yotpo.arithmetic import earned_points, from_base_minor, to_base_minor
from sandbox.yotpo.bodies import (
    CustomerUpsert,
    OrderCreate,
    PointsAdjust,
    RedemptionCreate,
    RefundCreate,
)
from sandbox.yotpo.customers import CustomersApi
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.faults import DEFAULT_HANG_SECONDS, Admission, FaultConfig
from sandbox.yotpo.orders import OrdersApi
from sandbox.yotpo.points import PointsApi
from sandbox.yotpo.program import (
    DEFAULT_API_KEY,
    DEFAULT_EARN_STATUS_REGEX,
    DEFAULT_GUID,
    DEFAULT_WEBHOOK_SECRET_HEADER,
    SILENT_PROFILES,
    TIER_DURATION,
    AccountConfig,
    CurrencyConfig,
    ProgramConfig,
    RedemptionOptionConfig,
    SandboxConfig,
    SilentCases,
    TierConfig,
    default_config,
    default_program,
)
from sandbox.yotpo.redemptions import RedemptionsApi
from sandbox.yotpo.state import Member, OrderRecord, Redemption, RefundRecord

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_EARN_STATUS_REGEX",
    "DEFAULT_GUID",
    "DEFAULT_HANG_SECONDS",
    "DEFAULT_WEBHOOK_SECRET_HEADER",
    "SILENT_PROFILES",
    "TIER_DURATION",
    "AccountConfig",
    "Admission",
    "ApiError",
    "CurrencyConfig",
    "CustomerUpsert",
    "FaultConfig",
    "Member",
    "OrderCreate",
    "OrderRecord",
    "PointsAdjust",
    "ProgramConfig",
    "Redemption",
    "RedemptionCreate",
    "RedemptionOptionConfig",
    "RefundCreate",
    "RefundRecord",
    "SandboxConfig",
    "SilentCases",
    "TierConfig",
    "YotpoEngine",
    "default_config",
    "default_program",
    "earned_points",
    "from_base_minor",
    "to_base_minor",
]


class YotpoEngine(AdmissionApi, CustomersApi, OrdersApi, PointsApi, RedemptionsApi):
    """All accounts of the stand-in, their programs and data, faults and the request log.

    `clock` (monotonic seconds) drives the rate limit, `now` stamps records, `sleep` serves
    injected latency, `webhook_sink` receives every outgoing webhook (default: a background
    `WebhookDispatcher`). Tests inject all four.
    """
