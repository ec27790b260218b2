"""The public names of the package."""

from __future__ import annotations

import statushooks
from statushooks import exceptions


def test_all_is_sorted_and_importable() -> None:
    """Every name in __all__ exists, and __all__ is sorted."""
    assert statushooks.__all__ == sorted(statushooks.__all__)
    for name in statushooks.__all__:
        assert hasattr(statushooks, name), name


def test_every_exception_is_exported() -> None:
    """Every exception class of the hierarchy is exported at the top level."""
    classes = {
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, exceptions.StatushooksError)
    }
    assert classes <= set(statushooks.__all__)
