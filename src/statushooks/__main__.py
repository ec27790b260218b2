"""``python -m statushooks``: the command line."""

from __future__ import annotations

from statushooks.cli import main

if __name__ == "__main__":
    main()
