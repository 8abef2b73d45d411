"""CPU priorities of the child processes. The server's threads serve the dashboard and feed the
crawl, so they come first; the extraction workers next; the search index's writer last, on what
the crawl leaves. Each child lowers its own priority when it starts (relative to its parent's)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# Below the server: on 2 cores under a CPU-bound crawl the workers at the server's priority left
# it waiting for a core (Socket.IO echo p99 40.8 ms, at most 52.8), at 5 below it did not (21.7,
# at most 22.7) for the same pages/s (docs/performance.md).
WORKER_NICENESS = 5
INDEXER_NICENESS = 10  # below the workers: the index catches up whenever a core is free


def lower_priority(niceness: int, who: str) -> None:
    """Run `niceness` below the parent; where that is not allowed, at the same priority."""
    try:
        os.nice(niceness)
    except OSError as exc:
        log.warning("%s could not lower its CPU priority: %s", who, exc)
