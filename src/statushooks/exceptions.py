"""The one exception hierarchy of statushooks.

* StatushooksError
  x ConfigurationError          a setting is missing, malformed or unsafe
  x ValidationError             input a caller gave is invalid (``.errors`` lists each field)
    + InvalidPhoneNumberError
    + UnsafeURLError            an endpoint URL the SSRF guard refuses
  x SignatureError              a provider's callback is not signed by its connector's credentials
    + SignatureMissingError     … or carries no signature at all
  x StorageError                the database failed (driver error on ``__cause__``)
    + NotFoundError
    + ConflictError
  x DeliveryError               one webhook attempt failed (``.kind`` says how)
    + DeliveryTimeoutError
    + EndpointConnectError
    + UnexpectedStatusError

The receiver SDK (``statushooks.receiver``) has its own root, ``ReceiverError`` (with
``WebhookVerificationError`` and ``WebhookPayloadError`` under it), because it ships with the
standard library only and is imported by receivers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class StatushooksError(Exception):
    """Unexpected statushooks error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else str(self.__doc__)


class ConfigurationError(StatushooksError):
    """The configuration is invalid."""


class ValidationError(StatushooksError):
    """The input is invalid."""

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Sequence[Mapping[str, str]] = (),
    ) -> None:
        super().__init__(message)
        #: One ``{"field": ..., "message": ...}`` per invalid field.
        self.errors: tuple[Mapping[str, str], ...] = tuple(errors)


class InvalidPhoneNumberError(ValidationError):
    """The phone number is not a valid E.164 number."""


class UnsafeURLError(ValidationError):
    """The endpoint URL points at an address statushooks refuses to call."""


class SignatureError(StatushooksError):
    """The callback's signature does not match the connector's credentials."""


class SignatureMissingError(SignatureError):
    """The callback carries no signature (or credentials) to check."""


class StorageError(StatushooksError):
    """The database failed."""


class NotFoundError(StorageError):
    """No such object."""


class ConflictError(StorageError):
    """The request conflicts with the current state."""


class DeliveryError(StatushooksError):
    """A webhook attempt failed."""

    #: Short machine-readable kind recorded on the attempt.
    kind = "error"


class DeliveryTimeoutError(DeliveryError):
    """The endpoint did not answer within the deadline."""

    kind = "timeout"


class EndpointConnectError(DeliveryError):
    """The endpoint could not be reached."""

    kind = "connect"


class UnexpectedStatusError(DeliveryError):
    """The endpoint answered with a non-2xx status."""

    kind = "status"
