"""Per-process cache of organizations' galleries, invalidated by a shared version number.

Each worker process keeps one ``Gallery`` per organization. Whoever changes a gallery (enroll,
erase, retention) bumps that organization's version in the database or the shared cache;
every worker passes the version it reads to ``get`` and rebuilds when its copy is older, so all
workers converge without messaging each other. Read the version *before* loading: if the
gallery changes while it loads, the stored version is then the older one and the next ``get``
rebuilds again, never the other way round.

The cache holds at most ``max_entries`` organizations (least recently used evicted), because a
1M-row gallery is 512 MB of float32.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from biometrics.matching.gallery import Gallery

__all__ = ["DEFAULT_MAX_ENTRIES", "CachedGallery", "GalleryCache"]

K = TypeVar("K", bound=Hashable)

DEFAULT_MAX_ENTRIES: Final = 64


@dataclass(frozen=True)
class CachedGallery(Generic[K]):
    """A gallery and the shared version it was built from."""

    source_version: int
    gallery: Gallery[K]


class GalleryCache(Generic[K]):
    """Organization id -> (source version, Gallery), rebuilt by a loader when out of date."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, CachedGallery[K]] = OrderedDict()
        # Celery's thread and gevent pools share one process: one loader at a time per cache
        # keeps two threads from both building the same 512 MB gallery.
        self._lock = threading.RLock()

    def get(
        self,
        org_id: Hashable,
        current_version: int,
        loader: Callable[[], Gallery[K]],
    ) -> Gallery[K]:
        """The organization's gallery at ``current_version``, calling ``loader`` if stale.

        A cached gallery built from an *older* version is rebuilt; one built from the same or
        a newer version is served (a newer one means this caller read the version earlier).
        A loader that raises leaves the cache as it was.
        """
        with self._lock:
            entry = self._entries.get(org_id)
            if entry is not None and entry.source_version >= current_version:
                self._entries.move_to_end(org_id)
                return entry.gallery
            gallery = loader()
            self._store(org_id, CachedGallery(current_version, gallery))
            return gallery

    def put(self, org_id: Hashable, source_version: int, gallery: Gallery[K]) -> None:
        """Store a gallery this process built or updated itself (e.g. right after enrolling)."""
        with self._lock:
            self._store(org_id, CachedGallery(source_version, gallery))

    def peek(self, org_id: Hashable) -> CachedGallery[K] | None:
        """The cached entry, if any, without loading or touching recency."""
        with self._lock:
            return self._entries.get(org_id)

    def invalidate(self, org_id: Hashable) -> None:
        """Drop one organization's gallery (this process only)."""
        with self._lock:
            self._entries.pop(org_id, None)

    def clear(self) -> None:
        """Drop everything (this process only)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _store(self, org_id: Hashable, entry: CachedGallery[K]) -> None:
        self._entries[org_id] = entry
        self._entries.move_to_end(org_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
