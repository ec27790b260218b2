"""statushooks: delivery-status webhooks for SMS, email and voice."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
