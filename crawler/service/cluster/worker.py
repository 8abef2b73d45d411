"""The cluster's crawl worker: a Celery worker that runs crawl jobs with the same engine.

    crawler-worker --redis redis://10.0.0.5:6379/0 --data-dir /mnt/crawls --crawls 2

or, the same through Celery's own command (settings then come from CRAWLER_* variables):

    CRAWLER_REDIS_URL=redis://10.0.0.5:6379/0 CRAWLER_DATA_DIR=/mnt/crawls \\
        celery -A crawler.service.cluster.worker worker --pool threads --concurrency 2 --prefetch-multiplier 1

The pool is `threads`: a crawl job runs in a thread of this one worker process, which owns the
extraction process pool (shared by its crawls, as in the web server) and starts the fetch
threads. Celery's default prefork pool runs jobs in daemonic child processes, which may not have
children of their own, so the extraction pool could not exist there.

The worker is a thin host around the engine, like the web server: a job takes the crawl's lease,
builds the controller with a sink that records into the Redis state store and publishes to the
owner's Socket.IO room, and mirrors the shared stop flag into the controller's local stop event.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import signals

from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import State
from crawler.folder.paths import is_crawl_id
from crawler.render import RenderPool
from crawler.service.cluster.coordinator import LEASE_SECONDS, STOP_CHANNEL, SWEEP_INTERVAL, Cluster
from crawler.service.cluster.event_queue import EventQueue, QueueSink
from crawler.service.cluster.jobs import QUEUE, TASK_NAME, job_sender, make_celery
from crawler.service.cluster.redis_states import RedisCrawlStates, redis_client
from crawler.service.config import memory_limit
from crawler.service.errors import BadRecord
from crawler.service.job import build_job
from crawler.service.memory import MemoryGuard, release_memory
from crawler.service.records import CrawlRecord
from crawler.service.statesink import StateSink

log = logging.getLogger("crawler.service.cluster.worker")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _memory_limit(text: str) -> int | None:
    try:
        return memory_limit(text)
    except ValueError as exc:
        raise SystemExit(f"crawler.service.cluster.worker: error: {exc}") from None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class WorkerSettings:
    redis_url: str = DEFAULT_REDIS
    data_dir: str = "./crawls"
    crawls: int = 2
    cpu_workers: int | None = None
    allow_private_targets: bool = False
    lease_seconds: float = LEASE_SECONDS
    memory_limit: int | None = None  # bytes: crawling pauses above 80 % of it (crawler/service/memory.py)

    @classmethod
    def from_env(cls) -> WorkerSettings:
        env = os.environ

        def number(name: str, default: Any, kind: Any = int) -> Any:
            raw = env.get(name, "").strip()
            try:
                return kind(raw) if raw else default
            except ValueError:
                raise SystemExit(f"crawler.service.cluster.worker: error: {name} must be a number, got {raw!r}") from None

        return cls(redis_url=env.get("CRAWLER_REDIS_URL", "").strip() or DEFAULT_REDIS,
                   data_dir=env.get("CRAWLER_DATA_DIR", "").strip() or "./crawls",
                   crawls=number("CRAWLER_WORKER_CRAWLS", 2), cpu_workers=number("CRAWLER_CPU_WORKERS", None),
                   allow_private_targets=_flag("CRAWLER_ALLOW_PRIVATE_TARGETS"),
                   lease_seconds=number("CRAWLER_LEASE_SECONDS", LEASE_SECONDS, float),
                   memory_limit=_memory_limit(env.get("CRAWLER_MEMORY_LIMIT", "")))


app = make_celery(os.environ.get("CRAWLER_REDIS_URL", "").strip() or DEFAULT_REDIS)


@dataclass
class LocalCrawl:
    record: CrawlRecord
    controller: CrawlController
    stop: threading.Event


@dataclass
class WorkerNode:
    """This worker process: its Redis handles, its extraction pool, the crawls it runs."""

    settings: WorkerSettings
    slots: int
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __post_init__(self) -> None:
        self.data_dir = Path(self.settings.data_dir).resolve()
        self.redis = redis_client(self.settings.redis_url)
        self.states = RedisCrawlStates(self.redis)
        self.events = EventQueue(self.settings.redis_url, write_only=True, raise_on_failure=True)
        self.cluster = Cluster(self.states, self.data_dir, self._announce, send_job=job_sender(app),
                               lease_seconds=self.settings.lease_seconds)
        self.cpu = CpuPool(self.settings.cpu_workers, start_method="forkserver")
        self.cpu.warm_up()
        self.render = RenderPool()  # Chromium for pages that need JavaScript, started on first need
        # A rendered page never reaches this cluster's Redis; the web servers' answers carry the
        # dashboard's mark, refused wherever they come from (crawler/render/policy.py).
        redis_at = urlsplit(self.settings.redis_url)
        if redis_at.scheme in ("redis", "rediss") and redis_at.hostname:
            self.render.deny_origin(redis_at.hostname, redis_at.port or 6379)
        self.guard = (MemoryGuard(self.settings.memory_limit, relieve=lambda: release_memory(self.cpu)).start()
                      if self.settings.memory_limit is not None else None)
        self._crawls: dict[str, LocalCrawl] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._heartbeat_loop, name="worker-heartbeat", daemon=True),
                         threading.Thread(target=self._stop_listener, name="worker-stops", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        log.info("worker %s: %d crawl slots, %d extraction processes, data in %s", self.worker_id, self.slots,
                 self.cpu.workers, self.data_dir)

    def _announce(self, owner: str, event: str, payload: dict[str, Any]) -> None:
        try:
            self.events.emit(event, payload, namespace="/", room=owner)
        except Exception as exc:  # noqa: BLE001 - live events are best effort: the crawl goes on
            log.warning("could not publish %s: %s", event, exc)

    # ---- one job ----

    def run(self, crawl_id: Any) -> str:
        """Run the job's crawl. The job's id is the crawl's identity (never a field of its record),
        checked as the web server checks one; a record that is not one to act on is refused."""
        if not is_crawl_id(crawl_id):
            log.error("refusing a crawl job: %r is not a crawl id (nothing run, nothing written)",
                      str(crawl_id)[:100])
            return "refused"
        if not self.cluster.take_lease(crawl_id, self.worker_id):
            log.info("crawl %s is already run by %s: this delivery does nothing", crawl_id,
                     self.cluster.lease_holder(crawl_id))
            return "duplicate"
        try:
            try:
                record = self.states.load(crawl_id)
            except BadRecord as exc:
                self._refuse(crawl_id, str(exc))
                return "refused"
            if record is None or record.state.is_final:
                log.info("crawl %s has %s: nothing to run", crawl_id, "ended" if record else "no record")
                return "ended"
            stop = threading.Event()
            sink = StateSink(self.states, crawl_id, QueueSink(self.events, record.owner))
            job = build_job(record, self.data_dir, sink, stop, self.cpu,
                            allow_private_targets=self.settings.allow_private_targets,
                            pause_signal=self.guard, render=self.render)
            controller = job.controller
            with self._lock:
                self._crawls[crawl_id] = LocalCrawl(record, controller, stop)
            self.states.set_worker(crawl_id, self.worker_id)
            reason = self.cluster.stop_reason(crawl_id)
            if reason:
                controller.request_stop(reason)
            log.info("crawl %s: running for %s", crawl_id, record.config.url)
            summary = job.run(self.data_dir)
            log.info("crawl %s: %s (%s ok)", crawl_id, summary["state"], summary.get("ok"))
            return summary["state"]
        finally:
            with self._lock:
                self._crawls.pop(crawl_id, None)
            self._after_job(crawl_id)

    def _refuse(self, crawl_id: str, reason: str) -> None:
        """A record no process may act on: said loudly, and the crawl shown `failed` with why (its
        folder untouched: nothing of the record is trusted to name one)."""
        log.error("crawl %s: refusing its record in Redis: %s (nothing run, nothing written)", crawl_id, reason)
        message = f"failed: its record in Redis was refused ({reason})"
        self.states.transition(crawl_id, State.FAILED, message[:500], allowed_from=[s for s in State if not s.is_final])

    def _after_job(self, crawl_id: str) -> None:
        try:
            self.cluster.release_lease(crawl_id, self.worker_id)
            self.cluster.undispatch(crawl_id)
            self.cluster.clear_stop(crawl_id)
            self._beat()
            self.cluster.dispatch()
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweep settles it from crawl.json later
            log.warning("crawl %s ended, but Redis could not be told (%s)", crawl_id, exc)

    # ---- heartbeat, stop flags ----

    def _beat(self) -> None:
        with self._lock:
            running = sorted(self._crawls)
        self.cluster.beat(self.worker_id, {"id": self.worker_id, "slots": self.slots,
                                           "free": max(0, self.slots - len(running)), "running": running,
                                           "cpu_workers": self.cpu.workers, "at": time.time()})

    def _renew(self) -> None:
        with self._lock:
            crawls = list(self._crawls.items())
        for crawl_id, crawl in crawls:
            held = self.cluster.renew_lease(crawl_id, self.worker_id)
            if held == 0:
                log.error("crawl %s: another worker holds its lease; stopping here", crawl_id)
                crawl.controller.request_stop("another worker took the crawl over", interrupted=True)
                continue
            if held == 2 or self.states.get(crawl_id) is None:  # Redis lost it: say again what runs here
                self.states.add_missing([crawl.record])
                self.cluster.hold_slot(crawl_id, crawl.record.owner)
                self.states.set_state(crawl_id, crawl.controller.state, "")
            self.states.set_worker(crawl_id, self.worker_id)
            reason = self.cluster.stop_reason(crawl_id)
            if reason and not crawl.stop.is_set():
                crawl.controller.request_stop(reason)

    def _heartbeat_loop(self) -> None:
        """Leases renewed every lease/5 s; the upkeep (sweep included) every SWEEP_INTERVAL s, on a
        schedule of its own so the bound on finding a dead worker holds whatever the lease."""
        interval = max(0.2, self.settings.lease_seconds / 5)
        next_beat = next_upkeep = time.monotonic()
        while not self._closing.is_set():
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + interval
                try:
                    self._renew()
                    self._beat()
                except Exception as exc:  # noqa: BLE001 - Redis down: keep crawling, try again next beat
                    log.warning("heartbeat: %s", exc)
            if time.monotonic() >= next_upkeep:
                next_upkeep = time.monotonic() + SWEEP_INTERVAL
                self.cluster.upkeep()
            self._closing.wait(max(0.0, min(next_beat, next_upkeep) - time.monotonic()))

    def _stop_listener(self) -> None:
        """Stop messages mirrored into the crawls' local stop events (no Redis call per page)."""
        retry = 0.25
        while not self._closing.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.states.key(STOP_CHANNEL))
                retry = 0.25
                while not self._closing.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._on_stop(message["data"])
            except Exception as exc:  # noqa: BLE001 - Redis down or the connection broken: subscribe again
                log.warning("stop listener: %s; retrying in %.2g s", exc, retry)
                self._closing.wait(retry)
                retry = min(retry * 2, 2.0)

    def _on_stop(self, crawl_id: str) -> None:
        with self._lock:
            crawl = self._crawls.get(crawl_id)
        if crawl is not None and not crawl.stop.is_set():
            crawl.controller.request_stop(self.cluster.stop_reason(crawl_id) or "stopped by user")

    def shutdown(self) -> None:
        """Stop this worker's crawls as `interrupted` (resumable on any worker) and say goodbye."""
        with self._lock:
            crawls = list(self._crawls.values())
        for crawl in crawls:
            crawl.controller.request_stop("the worker shut down", interrupted=True)
        self._closing.set()
        try:
            self.cluster.forget_worker(self.worker_id)
        except Exception:  # noqa: BLE001 - leaving anyway: the worker's heartbeat key expires on its own
            pass

    def close(self) -> None:
        self._closing.set()
        if self.guard is not None:
            self.guard.close()
        self.cpu.shutdown()
        self.render.close()


_node: WorkerNode | None = None
_node_lock = threading.Lock()


def node() -> WorkerNode:
    global _node
    with _node_lock:
        if _node is None:
            settings = WorkerSettings.from_env()
            _node = WorkerNode(settings, settings.crawls)
            _node.start()
        return _node


@app.task(name=TASK_NAME, ignore_result=True)
def run_crawl(crawl_id: str) -> str:
    return node().run(crawl_id)


@signals.worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    """Refuse a pool that cannot work, take the slot count from the worker, start the node."""
    pool = getattr(sender, "pool_cls", None)
    pool_name = getattr(pool, "__module__", str(pool))
    if pool is not None and not any(name in pool_name for name in ("thread", "solo")):
        raise SystemExit("crawler.service.cluster.worker: run with --pool threads (or solo): a crawl needs its own extraction "
                         f"processes, which prefork's daemonic children may not start (got {pool_name})")
    concurrency = getattr(sender, "concurrency", None)
    if concurrency:
        os.environ["CRAWLER_WORKER_CRAWLS"] = str(concurrency)
    node()


@signals.worker_shutting_down.connect
def _on_shutting_down(**_: Any) -> None:
    if _node is not None:
        _node.shutdown()


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    if _node is not None:
        _node.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crawler-worker",
                                     description="Run crawl jobs for a Crawler Dashboard cluster.")
    parser.add_argument("--redis", default=None, help="Redis URL shared with the web servers "
                        "(or CRAWLER_REDIS_URL; default redis://127.0.0.1:6379/0)")
    parser.add_argument("--data-dir", default=None, help="the crawl folders, the same path on every machine "
                        "(or CRAWLER_DATA_DIR; default ./crawls)")
    parser.add_argument("--crawls", type=int, default=None,
                        help="crawls this worker runs at once (or CRAWLER_WORKER_CRAWLS; default 2)")
    parser.add_argument("--cpu-workers", type=int, default=None,
                        help="processes for parsing and extraction (or CRAWLER_CPU_WORKERS; default one per core)")
    parser.add_argument("--allow-private-targets", action="store_true",
                        help="allow loopback/private/link-local targets (or CRAWLER_ALLOW_PRIVATE_TARGETS=1); "
                             "give the web servers the same setting")
    parser.add_argument("--memory-limit", default=None,
                        help="e.g. 2GB: above 80 %% of it (this worker and its extraction processes) no new pages "
                             "are handed out until memory is back under 70 %% (or CRAWLER_MEMORY_LIMIT; default none)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"CRAWLER_REDIS_URL": args.redis, "CRAWLER_DATA_DIR": args.data_dir,
                 "CRAWLER_WORKER_CRAWLS": None if args.crawls is None else str(args.crawls),
                 "CRAWLER_CPU_WORKERS": None if args.cpu_workers is None else str(args.cpu_workers),
                 "CRAWLER_ALLOW_PRIVATE_TARGETS": "1" if args.allow_private_targets else None,
                 "CRAWLER_MEMORY_LIMIT": args.memory_limit}
    os.environ.update({key: value for key, value in overrides.items() if value is not None})
    settings = WorkerSettings.from_env()
    if settings.crawls < 1:
        print(f"crawler.service.cluster.worker: error: --crawls must be at least 1, got {settings.crawls}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.conf.broker_url = settings.redis_url
    app.worker_main(["worker", "--pool=threads", f"--concurrency={settings.crawls}", "--prefetch-multiplier=1",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", f"--loglevel={args.log_level}",
                     "-Q", QUEUE, "-n", f"crawler-{os.getpid()}@{socket.gethostname()}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
