"""Connectors: providers' callbacks in, our status machine out.

One module per provider, each a pure ``base.Provider`` (verify the signature, parse the
receipts, map the provider's statuses to ours); ``Service.receive_callback`` is the thin
adapter that looks up the connector, checks, and applies the receipts in one transaction.
"""

from __future__ import annotations

from statushooks import exceptions
from statushooks.connectors import (
    bandwidth,
    base,
    infobip,
    mailgun,
    plivo,
    postmark,
    sendgrid,
    ses,
    sinch,
    telnyx,
    twilio,
    vonage,
)

#: Every provider, by name (the order of the docs: SMS first, then email).
PROVIDERS: dict[str, base.Provider] = {
    module.PROVIDER.name: module.PROVIDER
    for module in (
        twilio,
        vonage,
        infobip,
        sinch,
        telnyx,
        plivo,
        bandwidth,
        sendgrid,
        mailgun,
        ses,
        postmark,
    )
}


def get(name: str) -> base.Provider:
    """The provider called ``name``; a validation error naming the known ones otherwise."""
    provider = PROVIDERS.get(name)
    if provider is None:
        known = ", ".join(sorted(PROVIDERS))
        raise exceptions.ValidationError(
            f"unknown provider {name!r}",
            errors=[{"field": "provider", "message": f"must be one of: {known}"}],
        )
    return provider


__all__ = ["PROVIDERS", "get"]
