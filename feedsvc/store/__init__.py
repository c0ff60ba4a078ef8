"""Story storage: SQLite (embedded default) or PostgreSQL (shared), one contract."""

from __future__ import annotations

from feedsvc.store.base import FeedState, Lease, SectionRun, Store
from feedsvc.store.open import open_store

__all__ = ["FeedState", "Lease", "SectionRun", "Store", "open_store"]
