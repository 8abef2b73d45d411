"""Where an interrupted crawl left off, read back from its folder.

A crawl's folder is its own journal: ``discovered.jsonl`` lists every URL the crawl admitted
(written before the URL is queued) and ``manifest.jsonl`` every URL it finished with (written
when the page is stored, failed or skipped). So after a crash or a stop, the work left is exactly
the admitted URLs without a record, and nothing with a record is fetched again.

``log.json`` carries the log's numbering over: ``{"last_seq": N}`` says no log line of the crawl
has a seq above N (recorded ahead of use, a block at a time, and exactly when a run ends), so a
resumed run numbers its lines from N + 1 and a client merging lines by seq loses none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.engine.events import PageStatus, State
from crawler.engine.frontier import REFUSAL_REASONS
from crawler.engine.outcome import CrawlRequest
from crawler.folder.reader import iter_manifest, read_json

DISK_FULL_PREFIX = "disk full at "  # the stop_reason of a crawl that failed because of a full disk
LOG_SEQ_FILE = "log.json"  # {"last_seq": N}: no log line of the crawl has a seq above N


def last_log_seq(crawl_dir: Path) -> int:
    """The highest log seq the crawl's earlier runs may have used; 0 for a new crawl (or a
    folder from before log.json existed)."""
    try:
        value = read_json(Path(crawl_dir) / LOG_SEQ_FILE).get("last_seq")
    except (OSError, ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and value > 0 else 0


def can_resume(state: State, summary: dict[str, Any] | None) -> bool:
    """Stopped and interrupted crawls can be resumed (`State.is_resumable`), and so can one that
    failed only because the disk was full: what it saved is whole and its journal valid, so
    once there is room it continues where it stopped. Any other failure is final."""
    if state.is_resumable:
        return True
    reason = (summary or {}).get("stop_reason")
    return state == State.FAILED and isinstance(reason, str) and reason.startswith(DISK_FULL_PREFIX)


@dataclass
class ResumeState:
    """What a crawl already did: counts to continue from, URLs not to fetch again, work left."""

    counts: dict[str, int] = field(default_factory=lambda: {status: 0 for status in PageStatus})
    skip_reasons: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # links refused at admission, per reason
    handled: set[str] = field(default_factory=set)  # URLs with a manifest record
    stored_keys: set[str] = field(default_factory=set)  # page identities already saved
    pending: list[CrawlRequest] = field(default_factory=list)  # admitted, never finished
    discovered: int = 0
    from_sitemaps: int = 0
    reused: int = 0  # pages a refresh reused from the crawl it refreshes

    @property
    def saved(self) -> int:
        return self.counts[PageStatus.OK]

    @property
    def seen(self) -> set[str]:
        """Every URL this crawl has already judged: none of them is admitted a second time."""
        return self.handled | self.stored_keys | {request.url for request in self.pending}


def load_resume_state(crawl_dir: Path) -> ResumeState:
    """Read the manifest and the discovery list (torn last lines are ignored)."""
    state = ResumeState()
    for entry in iter_manifest(crawl_dir):
        url, status = entry.get("url"), entry.get("status")
        if not isinstance(url, str) or status not in state.counts:
            continue
        if url in state.handled:
            continue  # never expected; a repeated record must not be counted twice
        state.handled.add(url)
        reason = entry.get("reason")
        if status == PageStatus.SKIPPED and reason in REFUSAL_REASONS:
            # A link refused at admission: judged (not offered again), counted apart, never a page.
            state.refused[reason] = state.refused.get(reason, 0) + 1
            continue
        state.counts[status] += 1
        if status == PageStatus.SKIPPED and isinstance(reason, str):
            state.skip_reasons[reason] = state.skip_reasons.get(reason, 0) + 1
        if status == PageStatus.OK:
            state.stored_keys.add(entry.get("canonical") or url)
            state.reused += 1 if entry.get("reused") else 0
    queued: set[str] = set()
    for entry in iter_manifest(crawl_dir, "discovered.jsonl"):
        url = entry.get("url")
        if not isinstance(url, str) or url in queued:
            continue
        queued.add(url)
        state.discovered += 1
        source = entry.get("source")
        source = source if isinstance(source, str) else "link"
        if source == "sitemap":
            state.from_sitemaps += 1
        if url not in state.handled and url not in state.stored_keys:
            depth = entry.get("depth")
            depth = depth if isinstance(depth, int) else 0
            state.pending.append(CrawlRequest(url, depth, None, source))
    return state
