"""One process-wide lock for importing heavy libraries and loading models with them.

torch, transformers and sentence-transformers are imported lazily, in worker threads, the
first time a model is needed: the offline chat model at warm-up, the embedding model at the
first ingestion or search. transformers resolves its names lazily and fills shared tables
(which package provides what) while it imports; two threads doing that at once broke the
import (``KeyError: 'accelerate'``) and left the library half imported. So every first
import of such a library, and every model load that imports more of it as it goes, runs
under `heavy_lock`: one load at a time, the second waits for the first and then finds the
modules imported.

Nothing here remembers a failure: a load that raised simply releases the lock, and the
next caller tries again.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")

_LOCK = threading.RLock()


def heavy_lock() -> threading.RLock:
    """The lock every heavy import and model load holds (re-entrant: a load may import)."""
    return _LOCK


def import_heavy(name: str) -> ModuleType:
    """Import the module ``name`` under the heavy lock (at most one thread imports at once).

    Raises what the import raises (ImportError when the package is missing).
    """
    with _LOCK:
        return importlib.import_module(name)


def load_heavy(load: Callable[[], T]) -> T:
    """Run a blocking model load under the heavy lock and return its result.

    Call it from a worker thread, never on the event loop. Raises what ``load`` raises.
    """
    with _LOCK:
        return load()
