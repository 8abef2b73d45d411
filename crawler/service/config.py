"""Settings of one server process (web server or worker), from flags and CRAWLER_* variables."""

from __future__ import annotations

from dataclasses import dataclass


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
    lease_seconds: float = 15.0  # cluster mode: how long a silent worker keeps its crawls
    memory_limit: int | None = None  # bytes: crawling pauses above 80 % of it (crawler/service/memory.py)

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> "ServerConfig":
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


def memory_limit(text: str | None) -> int | None:
    """`--memory-limit` / CRAWLER_MEMORY_LIMIT (`2GB`, `512MB`) in bytes; empty means none."""
    from crawler.service.memory import parse_size

    if text is None or not str(text).strip():
        return None
    try:
        return parse_size(str(text))
    except ValueError as exc:
        raise ValueError(f"memory limit: {exc}") from None
