"""The dashboard's host: parses the flags, builds the app (crawler.web) and serves it.

`crawler-dashboard [--host H] [--port P] ...` and `python crawler_app.py ...` both start it here."""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import secrets
import signal
import sys
from typing import Any

# Werkzeug's log lines that are noise here: a WebSocket close frame read as a bad request, and the
# warnings that its server is not for production (printed on every start, alarming someone who runs
# it on their own machine; README "Production" says how to deploy behind gunicorn).
WERKZEUG_NOISE = ("Bad request", "Bad HTTP/0.9", "This is a development server",
                  "appears to be used in a production deployment")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Crawler Dashboard: crawl documentation sites from your browser.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--data-dir", default=None,
                        help="where crawls are stored (default ./crawls, or CRAWLER_DATA_DIR)")
    parser.add_argument("--allow-private-targets", action="store_true",
                        help="allow crawling loopback/private/link-local addresses (a docs server on this machine or LAN)")
    parser.add_argument("--max-running-crawls", type=int, default=None,
                        help="crawls that run at once in total; more wait in state 'queued' "
                             "(default 4, or CRAWLER_MAX_RUNNING_CRAWLS)")
    parser.add_argument("--max-crawls-per-session", type=int, default=None,
                        help="crawls one session runs at once; its next ones wait in state 'queued' "
                             "(default 2, or CRAWLER_MAX_CRAWLS_PER_SESSION)")
    parser.add_argument("--max-queued-per-session", type=int, default=None,
                        help="crawls one session may have waiting; starting more is refused "
                             "(default 20, or CRAWLER_MAX_QUEUED_PER_SESSION)")
    parser.add_argument("--token", default=None,
                        help="access token required by the dashboard, the REST API and Socket.IO "
                             "(or CRAWLER_TOKEN, which keeps it out of the process list); when the server "
                             "listens on a non-loopback address without one, a random token is generated "
                             "and printed")
    parser.add_argument("--allowed-hosts", default=None,
                        help="more names the server answers to, comma-separated host or host:port (a reverse "
                             "proxy's public name, a DNS name of this machine), e.g. crawler.example.com; "
                             "requests with any other Host or Origin are refused (DNS-rebinding guard; "
                             "or CRAWLER_ALLOWED_HOSTS)")
    parser.add_argument("--cpu-workers", type=int, default=None,
                        help="processes for parsing and extraction (default: one per CPU core)")
    parser.add_argument("--redis", default=None,
                        help="cluster mode: the Redis shared with other web servers and the workers "
                             "(crawler-worker), e.g. redis://10.0.0.5:6379/0 (or CRAWLER_REDIS_URL); "
                             "crawls then run on the workers, not in this process")
    parser.add_argument("--memory-limit", default=None,
                        help="e.g. 2GB or 512MB: above 80 %% of it (this process and its extraction workers) "
                             "no new pages are handed out until memory is back under 70 %% "
                             "(or CRAWLER_MEMORY_LIMIT; default: no limit)")
    parser.add_argument("--search-indexer", choices=["process", "thread"], default=None,
                        help="where the search index is written: process (default), a child process at a lower "
                             "CPU priority, so crawling takes the CPU first and the index catches up when a core "
                             "is free; thread, a thread of the server (or CRAWLER_SEARCH_INDEXER)")
    parser.add_argument("--server", choices=["threading", "eventlet"], default="threading",
                        help="Socket.IO async mode: threading (default, real OS threads) or eventlet "
                             "(opt-in, green threads; see README)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.setLevel(max(logging.WARNING, logging.getLogger().level))
    # A WebSocket client hanging up leaves a close frame the dev server reads as a bad request.
    werkzeug_log.addFilter(lambda record: not any(noise in record.getMessage() for noise in WERKZEUG_NOISE))
    # Flask's " * Serving Flask app ... * Debug mode: off" banner: the line below says where to go.
    import flask.cli

    flask.cli.show_server_banner = lambda *args, **kwargs: None
    from crawler.web import create_app
    from crawler.web.app import JsonErrorRequestHandler

    try:
        config = server_config(args, dict(os.environ))
    except ValueError as exc:  # a limit out of range, from a flag or a CRAWLER_* variable
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        return 2
    app = create_app(config)
    socketio = app.extensions["socketio"]
    render = app.extensions["crawler"].render
    if render is not None:  # a page rendered in the browser never reaches this server
        render.deny_origin(args.host, args.port)
    mode = f"cluster mode through {redact(config.redis_url)}" if config.redis_url else "embedded mode"
    print(f"Crawler Dashboard on {dashboard_url(args.host, args.port, config.token)} (data in {config.data_dir}, "
          f"{mode})", flush=True)
    install_sigterm_handler()
    try:
        # Threading mode: Werkzeug's server, whose own refusals (a URL over 64 KB...) answer JSON.
        handler = {"request_handler": JsonErrorRequestHandler} if args.server == "threading" else {}
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, log_output=False,
                     **handler)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["crawler"].close()
    return 0


def server_config(args: argparse.Namespace, environ: dict[str, str]) -> Any:
    """CRAWLER_* variables, overridden by the flags given; a token is made up when the server is
    reachable from other machines and none was given (in cluster mode, once, in the shared data
    directory, so that every web server accepts it)."""
    from dataclasses import replace

    from crawler.service.config import ServerConfig, allowed_hosts, memory_limit
    from crawler.web.auth import is_loopback_host

    config = ServerConfig.from_env(environ)
    flags = {"allow_private_targets": args.allow_private_targets or config.allow_private_targets,
             "max_running_crawls": args.max_running_crawls, "max_crawls_per_session": args.max_crawls_per_session,
             "max_queued_per_session": args.max_queued_per_session, "cpu_workers": args.cpu_workers,
             "token": (args.token or "").strip() or None, "redis_url": (args.redis or "").strip() or None,
             "memory_limit": memory_limit(args.memory_limit) if args.memory_limit else None,
             "search_indexer": args.search_indexer,
             "allowed_hosts": (allowed_hosts(args.allowed_hosts, "--allowed-hosts")
                               if args.allowed_hosts is not None else None)}
    config = replace(config, data_dir=args.data_dir or config.data_dir, async_mode=args.server,
                     host=args.host, port=args.port,
                     **{key: value for key, value in flags.items() if value is not None})
    if config.token is None and not is_loopback_host(args.host):
        if config.redis_url:  # every web server of the cluster must accept the same token
            from pathlib import Path

            from crawler.folder.writer import make_private_dirs
            from crawler.web.sessions import load_or_create_secret

            data_dir = Path(config.data_dir)
            make_private_dirs(data_dir)
            config = replace(config, token=load_or_create_secret(data_dir, ".access_token"))
        else:
            config = replace(config, token=secrets.token_urlsafe(24))
    return config


def redact(url: str) -> str:
    """A Redis URL without its password, for the console."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


def dashboard_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def install_sigterm_handler() -> None:
    """SIGTERM (systemd, docker stop, kill) ends the server like Ctrl-C: SystemExit unwinds the
    main thread through `finally`, so running crawls are closed and marked, not cut off.

    Under eventlet the handler runs in whichever green thread holds the main OS thread. In the
    main green thread, or in the hub (idle in epoll; its parent is the main green thread), raising
    reaches `finally` directly; in any other green thread it would only end that one, so the exit
    is thrown into the main green thread from the hub instead."""
    main_greenlet: Any = None
    if "eventlet" in sys.modules:
        import greenlet

        main_greenlet = greenlet.getcurrent()

    def on_sigterm(signum: int, frame: Any) -> None:
        if main_greenlet is not None:
            import eventlet.hubs
            import greenlet

            hub = eventlet.hubs.get_hub()
            if greenlet.getcurrent() not in (main_greenlet, hub.greenlet):
                hub.schedule_call_global(0, main_greenlet.throw, SystemExit(0))
                return
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)


def wants_eventlet(argv: list[str]) -> bool:
    return "--server=eventlet" in argv or any(a == "--server" and b == "eventlet" for a, b in itertools.pairwise(argv))


def run() -> None:
    """The `crawler-dashboard` command (and crawler_app.py): eventlet, when asked for, patches the
    process before anything imports socket, ssl, threading or requests."""
    if wants_eventlet(sys.argv[1:]):
        import eventlet

        from crawler.engine.greenio import allow_fork_server_under_eventlet

        allow_fork_server_under_eventlet()
        eventlet.monkey_patch()
    sys.exit(main())
