"""Recently used connectors with their opened credentials, per process: a provider's callback
then costs its one write only (``Service.receive_callback``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from statushooks.connectors.records import Connector

Entry = tuple[Connector, Mapping[str, str]]


class ConnectorCache:
    """Each connector looked up within ``ttl`` seconds, at most ``size`` of them (the oldest
    goes first). A connector changed or deleted in *this* process is forgotten at once
    (``clear``); one changed in another process is used as it was for up to ``ttl``."""

    def __init__(self, *, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: dict[str, tuple[Entry, float]] = {}
        #: Bumped by ``clear()``: a connector read before a clear is not kept after it.
        self.generation = 0

    def get(self, connector_id: str) -> Entry | None:
        found = self._entries.get(connector_id)
        if found is None:
            return None
        entry, expires = found
        if self._clock() >= expires:
            del self._entries[connector_id]
            return None
        return entry

    def put(self, entry: Entry, *, generation: int) -> None:
        if generation != self.generation:
            return
        connector_id = entry[0].id
        self._entries.pop(connector_id, None)
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[connector_id] = (entry, self._clock() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
