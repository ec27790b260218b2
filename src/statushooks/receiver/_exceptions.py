"""The receiver SDK's exceptions.

* ReceiverError
  x WebhookVerificationError        the request cannot be trusted
    + MissingHeadersError           no signature headers, or some of them missing
    + InvalidHeadersError           a header is present but malformed
    + InvalidSecretError            the secret is empty or not valid base64
      + Ed25519UnavailableError     a whpk_ public key, and no ``cryptography`` package
    + TimestampOutOfToleranceError  the timestamp is too old or too far in the future
    + InvalidSignatureError         no signature matches any secret
  x WebhookPayloadError             the (verified) body is not an event this SDK knows
    + MalformedPayloadError         not JSON, or a field is missing or of the wrong type
    + UnknownEventTypeError         a ``type`` this SDK does not know
"""

from __future__ import annotations


class ReceiverError(Exception):
    """A webhook could not be verified or parsed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else str(self.__doc__)


class WebhookVerificationError(ReceiverError):
    """The webhook could not be verified."""


class MissingHeadersError(WebhookVerificationError):
    """Required webhook signature headers are missing."""


class InvalidHeadersError(WebhookVerificationError):
    """A webhook signature header is malformed."""


class InvalidSecretError(WebhookVerificationError):
    """The webhook secret is empty or malformed."""


class Ed25519UnavailableError(InvalidSecretError):
    """Verifying with a whpk_ public key needs the cryptography package
    (``pip install 'statushooks[receiver-ed25519]'``)."""


class TimestampOutOfToleranceError(WebhookVerificationError):
    """The webhook timestamp is outside the tolerance window."""


class InvalidSignatureError(WebhookVerificationError):
    """No webhook signature matches."""


class WebhookPayloadError(ReceiverError):
    """The webhook payload could not be parsed."""


class MalformedPayloadError(WebhookPayloadError):
    """The webhook payload is not valid JSON of the expected shape."""


class UnknownEventTypeError(WebhookPayloadError):
    """The webhook event type is unknown."""
