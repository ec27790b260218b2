"""statushooks: delivery-status webhooks for SMS, email and voice.

The top-level package re-exports only standard-library-only modules, so that receivers can
import ``statushooks.receiver`` without pulling in the service's dependencies.
"""

from __future__ import annotations

from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.exceptions import (
    ConfigurationError,
    ConflictError,
    DeliveryError,
    DeliveryTimeoutError,
    EndpointConnectError,
    InvalidPhoneNumberError,
    NotFoundError,
    SignatureError,
    SignatureMissingError,
    StatushooksError,
    StorageError,
    UnexpectedStatusError,
    UnsafeURLError,
    ValidationError,
)
from statushooks.messages import Channel, Message, MessageStatus, StatusChange

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Channel",
    "ConfigurationError",
    "ConflictError",
    "Delivery",
    "DeliveryError",
    "DeliveryState",
    "DeliveryTimeoutError",
    "Endpoint",
    "EndpointConnectError",
    "EndpointState",
    "Event",
    "InvalidPhoneNumberError",
    "Message",
    "MessageStatus",
    "NotFoundError",
    "SignatureError",
    "SignatureMissingError",
    "StatusChange",
    "StatushooksError",
    "StorageError",
    "UnexpectedStatusError",
    "UnsafeURLError",
    "ValidationError",
    "__version__",
]
