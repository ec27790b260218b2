"""The web dashboard (``/dashboard``) and the customer portal (``/portal``)."""

from __future__ import annotations

from statushooks.dashboard.web import mount

__all__ = ["mount"]
