"""A commercetools stand-in: the HTTP API subset the connector and a storefront use.

`create_app(state)` builds the Flask app; `python -m sandbox.commercetools --port 8092` serves it.
"""

from sandbox.commercetools.app import create_app
from sandbox.commercetools.delivery import DeliveryConfig
from sandbox.commercetools.state import StandInConfig, StandInState

__all__ = ["DeliveryConfig", "StandInConfig", "StandInState", "create_app"]
