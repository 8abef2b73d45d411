"""The crawl folders as the durable journal: crawl.json written at each change of hands, and the
records rebuilt from the folders (at start-up, or when a flushed Redis has lost them)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from crawler.engine.config import parse_crawl_config
from crawler.engine.events import CrawlKind, PageStatus, State, iso_timestamp
from crawler.folder.paths import is_crawl_id
from crawler.folder.reader import iter_manifest, read_json
from crawler.folder.writer import write_json
from crawler.service.records import CrawlRecord, download_links

log = logging.getLogger(__name__)

LOST_MESSAGE = "the server stopped during the crawl"


def write_crawl_meta(crawl_dir: Path, record: CrawlRecord, state: State) -> None:
    """crawl.json: who owns the crawl and its state as far as the disk knows (queued/running while
    a runner has it, the final state once it ended; written after summary.json)."""
    try:
        meta = {"crawl_id": record.crawl_id, "owner": record.owner, "created_at": record.created_at,
                "state": state.value, "kind": record.kind}
        if record.refresh_of:
            meta["refresh_of"] = record.refresh_of
        write_json(crawl_dir / "crawl.json", meta)
    except OSError:
        log.exception("could not write crawl.json for %s", record.crawl_id)


def history_state(recorded: Any, summary: dict[str, Any] | None) -> State:
    """The state of a crawl found on disk with nothing running it.

    crawl.json says `queued`/`running` while a crawl runs and its final state once it ended
    (written after summary.json). Anything not final there means its runner died mid-crawl,
    even if an older summary (from before a resume) says otherwise.
    """
    try:
        state = State(recorded)
    except ValueError:
        state = State.INTERRUPTED
    if not state.is_final or summary is None:
        return State.INTERRUPTED
    try:
        return State(summary["state"])
    except (KeyError, ValueError):
        return State.INTERRUPTED


def count_manifest(crawl_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {status: 0 for status in PageStatus}
    for entry in iter_manifest(crawl_dir):
        if entry.get("status") in counts:
            counts[entry["status"]] += 1
    return counts


def lost_summary(crawl_dir: Path, record: CrawlRecord, state: State, reason: str) -> dict[str, Any]:
    """The summary of a crawl whose runner died: counted from its manifest."""
    return {"crawl_id": record.crawl_id, "kind": record.kind, "state": state.value, "url": record.config.url,
            "stop_reason": reason, "finished_at": iso_timestamp(), "downloads": record.downloads,
            **count_manifest(crawl_dir)}


def read_history(data_dir: Path, *, running_is_lost: bool = True,
                 names: Iterable[str] | None = None) -> Iterator[CrawlRecord]:
    """Every crawl folder (or those of `names`) as a record. With `running_is_lost`, a crawl whose
    crawl.json is not final is `interrupted` (nothing can be running it); without, it keeps its
    recorded state, for the cluster's sweeper to judge (a worker may still hold it)."""
    paths = (sorted(Path(data_dir).glob("*/crawl.json")) if names is None
             else [Path(data_dir) / name / "crawl.json" for name in names])
    for meta_path in paths:
        crawl_dir = meta_path.parent
        if not is_crawl_id(crawl_dir.name):
            continue
        try:
            meta = read_json(meta_path)
            config = parse_crawl_config(read_json(crawl_dir / "config.json"))
            summary_path = crawl_dir / "summary.json"
            summary = read_json(summary_path) if summary_path.exists() else None
            refresh_of = meta.get("refresh_of")
            record = CrawlRecord(crawl_dir.name, meta["owner"], config, meta["created_at"],
                                 kind=CrawlKind(meta.get("kind", CrawlKind.CRAWL)),
                                 refresh_of=refresh_of if is_crawl_id(refresh_of) else None)
        except Exception as exc:  # noqa: BLE001 - a damaged folder must not keep the server from starting
            log.warning("skipping crawl folder %s: %s", crawl_dir, exc)
            continue
        recorded = State(meta["state"]) if meta.get("state") in State._value2member_map_ else None
        if not running_is_lost and recorded is not None and not recorded.is_final:
            record.state = recorded
            yield record
            continue
        state = history_state(meta.get("state"), summary)
        if summary is None or summary.get("state") != state.value:
            summary = {"crawl_id": crawl_dir.name, "state": state.value, "url": config.url,
                       "stop_reason": LOST_MESSAGE, "finished_at": None,
                       "downloads": download_links(crawl_dir.name), **count_manifest(crawl_dir)}
        record.state, record.summary = state, summary
        yield record


def ended_folders(data_dir: Path, known: set[str]) -> list[str]:
    """Crawl folders not in `known` whose crawl.json says the crawl ended: crawls run by another
    process on this data directory (a terminal crawl, `crawler`). A folder still running
    is left for a later look (its runner, not this process, owns it)."""
    found = []
    for meta_path in Path(data_dir).glob("*/crawl.json"):
        name = meta_path.parent.name
        if name in known or not is_crawl_id(name):
            continue
        try:
            state = read_json(meta_path).get("state")
        except Exception:  # noqa: BLE001 - half-written or damaged: look again later
            continue
        if state in State._value2member_map_ and State(state).is_final:
            found.append(name)
    return sorted(found)
