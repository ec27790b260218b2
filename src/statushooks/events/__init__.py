"""The event catalog: one module per dialect, each a pure renderer + JSON Schema + example.

``catalog`` is the registry the rest of statushooks uses; ``interact`` (seed 000, CloudEvents
1.0) and ``ycloud`` (seed 002, v2 envelope) render the payloads.
"""

from __future__ import annotations
