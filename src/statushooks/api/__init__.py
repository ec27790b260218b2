"""The HTTP API: ``create_app(settings, store)`` builds it."""

from __future__ import annotations

from statushooks.api.app import create_app

__all__ = ["create_app"]
