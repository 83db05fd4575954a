"""`python -m sandbox.commercetools --port 8092 [--project-key sandbox]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from sandbox.commercetools.app import create_app
from sandbox.commercetools.delivery import DeliveryConfig
from sandbox.commercetools.state import StandInConfig, StandInState
from sandbox.serving import make_keepalive_server
from shared.logs import configure_logging, log_event

logger = logging.getLogger("sandbox.commercetools")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.commercetools")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--project-key", default="sandbox")
    parser.add_argument("--client-id", default=None, help="accept only this client id")
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--token-ttl", type=int, default=172_800, help="token lifetime (s)")
    parser.add_argument(
        "--delivery-attempts", type=int, default=50, help="push attempts before giving up"
    )
    parser.add_argument(
        "--ignore-cart-discounts-default",
        choices=("true", "false"),
        default="true",
        help="Cart.directDiscountsIgnoreCartDiscounts when a draft omits it (undocumented)",
    )
    args = parser.parse_args(argv)
    if (args.client_id is None) != (args.client_secret is None):
        parser.error("--client-id and --client-secret go together")

    configure_logging("commercetools-standin")
    state = StandInState(
        StandInConfig(
            project_key=args.project_key,
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_ttl=args.token_ttl,
            delivery=DeliveryConfig(max_attempts=args.delivery_attempts),
            ignore_cart_discounts_default=args.ignore_cart_discounts_default == "true",
        )
    )
    # Persistent connections, as the other stand-ins (sandbox/serving.py says why).
    server = make_keepalive_server(create_app(state), args.host, args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log_event(
        logger,
        "standin.ready",
        url=f"http://{args.host}:{server.server_port}",
        project_key=args.project_key,
        delivery=state.deliverer.mode,
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
