"""Settings of one server process (web server or worker), from flags and CRAWLER_* variables."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

SEARCH_INDEXERS = ("process", "thread")  # where the search index is written: ServerConfig.search_indexer


@dataclass
class ServerConfig:
    """Settings of one server process (not of a crawl)."""

    data_dir: str = "./crawls"
    allow_private_targets: bool = False
    max_running_crawls: int = 4
    max_crawls_per_session: int = 2
    max_queued_per_session: int = 20
    token: str | None = None
    cpu_workers: int | None = None
    async_mode: str = "threading"
    secret_key: str | None = None
    redis_url: str | None = None  # cluster mode: crawls run on workers, state and events go through Redis
    lease_seconds: float = 12.0  # cluster mode: how long a silent worker keeps its crawls (cluster.coordinator.LEASE_SECONDS)
    memory_limit: int | None = None  # bytes: crawling pauses above 80 % of it (crawler/service/memory.py)
    # Which names the server answers to (the DNS-rebinding guard, crawler/web/auth.py): the address
    # it listens on and its port (None when unknown: a WSGI runner such as gunicorn binds it), and
    # the names a reverse proxy or a DNS name adds, "host" (any port) or "host:port".
    host: str | None = None
    port: int | None = None
    allowed_hosts: tuple[str, ...] = ()
    # The shortest time between two runs of a schedule (crawler/service/schedules.py), in seconds.
    schedule_min_interval: float = 3600.0
    # Where the search index is written (crawler/outputs/search_process.py): "process", a child
    # process at a lower CPU priority, so the crawl takes the CPU first; "thread", a thread of
    # this process (the index is then up to date sooner while a CPU-bound crawl runs).
    search_indexer: str = "process"

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> ServerConfig:
        """Settings from CRAWLER_* variables, for servers started by a WSGI runner (gunicorn)."""
        def flag(name: str) -> bool:
            return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")

        def number(name: str, default: int) -> int:
            raw = environ.get(name, "").strip()
            try:
                return int(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {raw!r}") from None

        def seconds(name: str, default: float) -> float:
            raw = environ.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None

        workers = environ.get("CRAWLER_CPU_WORKERS", "").strip()
        return cls(
            data_dir=environ.get("CRAWLER_DATA_DIR", cls.data_dir),
            allow_private_targets=flag("CRAWLER_ALLOW_PRIVATE_TARGETS"),
            max_running_crawls=number("CRAWLER_MAX_RUNNING_CRAWLS", cls.max_running_crawls),
            max_crawls_per_session=number("CRAWLER_MAX_CRAWLS_PER_SESSION", cls.max_crawls_per_session),
            max_queued_per_session=number("CRAWLER_MAX_QUEUED_PER_SESSION", cls.max_queued_per_session),
            token=environ.get("CRAWLER_TOKEN", "").strip() or None,
            cpu_workers=number("CRAWLER_CPU_WORKERS", 0) if workers else None,
            async_mode=environ.get("CRAWLER_ASYNC_MODE", cls.async_mode),
            secret_key=environ.get("CRAWLER_SECRET_KEY", "").strip() or None,
            redis_url=environ.get("CRAWLER_REDIS_URL", "").strip() or None,
            lease_seconds=seconds("CRAWLER_LEASE_SECONDS", cls.lease_seconds),
            memory_limit=memory_limit(environ.get("CRAWLER_MEMORY_LIMIT", "")),
            allowed_hosts=allowed_hosts(environ.get("CRAWLER_ALLOWED_HOSTS", ""), "CRAWLER_ALLOWED_HOSTS"),
            schedule_min_interval=seconds("CRAWLER_SCHEDULE_MIN_INTERVAL", cls.schedule_min_interval),
            search_indexer=environ.get("CRAWLER_SEARCH_INDEXER", "").strip().lower() or cls.search_indexer,
        )

    def __post_init__(self) -> None:
        """Refuse limits that would make the server unusable, with the option's name."""
        if isinstance(self.memory_limit, str):
            self.memory_limit = memory_limit(self.memory_limit)
        for name in ("max_running_crawls", "max_crawls_per_session"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_queued_per_session < 0:
            raise ValueError(f"max_queued_per_session must be 0 or more, got {self.max_queued_per_session}")
        if self.token is not None and not self.token.strip():
            self.token = None
        if self.redis_url is not None:
            self.redis_url = self.redis_url.strip() or None
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"the Redis URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        if self.lease_seconds < 1:
            raise ValueError(f"lease_seconds must be at least 1, got {self.lease_seconds}")
        self.allowed_hosts = allowed_hosts(self.allowed_hosts)
        if not self.schedule_min_interval >= 1:
            raise ValueError(f"schedule_min_interval must be at least 1 second, got {self.schedule_min_interval}")
        if self.search_indexer not in SEARCH_INDEXERS:
            raise ValueError(f"search_indexer must be one of {', '.join(SEARCH_INDEXERS)}, got {self.search_indexer!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def split_host_port(text: str) -> tuple[str, int | None] | None:
    """`name`, `name:port`, `[v6]` or `[v6]:port` as (lowercase name without brackets, port or
    None); None when it is not one (a scheme, a path, a space, a bad port, a wildcard...)."""
    text = text.strip().lower()
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        try:
            if ipaddress.ip_address(name).version != 6:
                return None
        except ValueError:
            return None
    else:
        name, colon, port = text.partition(":")
        rest = colon + port
        labels = name.split(".")
        if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
            return None
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not 0 < int(rest[1:]) < 65536:
        return None
    return name, int(rest[1:])


def allowed_hosts(value: Any, source: str = "allowed hosts") -> tuple[str, ...]:
    """`--allowed-hosts` / CRAWLER_ALLOWED_HOSTS: comma-separated `host` or `host:port` names,
    checked here so that a typo stops the server at start with the entry named."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{source}: {item!r} is not a host name")
        if not item.strip():
            continue
        if split_host_port(item) is None:
            raise ValueError(f"{source}: {item.strip()!r} is not a host name or host:port; write names such as "
                             "crawler.example.com, crawler.example.com:8443, 10.0.0.5:5000 or [fd00::5]:5000, "
                             "without a scheme, a path or a wildcard, separated by commas")
        names.append(item.strip().lower())
    return tuple(dict.fromkeys(names))


def memory_limit(text: str | None) -> int | None:
    """`--memory-limit` / CRAWLER_MEMORY_LIMIT (`2GB`, `512MB`) in bytes; empty means none."""
    from crawler.service.memory import parse_size

    if text is None or not str(text).strip():
        return None
    try:
        return parse_size(str(text))
    except ValueError as exc:
        raise ValueError(f"memory limit: {exc}") from None
