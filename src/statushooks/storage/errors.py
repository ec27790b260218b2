"""Driver errors become statushooks errors here, at the storage seam."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from statushooks import exceptions


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Translate driver errors into ``StorageError`` (the driver error on ``__cause__``)."""
    try:
        yield
    except exceptions.StatushooksError:
        raise
    except sa.exc.IntegrityError as exc:
        raise exceptions.ConflictError(f"conflicting write: {exc.orig}") from exc
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise exceptions.StorageError(f"database error: {exc}") from exc
