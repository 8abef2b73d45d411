#!/usr/bin/env python3
"""Start the Crawler Dashboard server: python crawler_app.py [--host H] [--port P] ..."""

from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Crawler Dashboard: crawl documentation sites from your browser.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--data-dir", default="./crawls", help="where crawls are stored (default ./crawls)")
    parser.add_argument("--allow-private-targets", action="store_true",
                        help="allow crawling loopback/private/link-local addresses (a docs server on this machine or LAN)")
    parser.add_argument("--max-running-crawls", type=int, default=4,
                        help="crawls that run at once; more wait in state 'queued' (default 4)")
    parser.add_argument("--cpu-workers", type=int, default=None,
                        help="processes for parsing and extraction (default: one per CPU core)")
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
    werkzeug_log.addFilter(lambda record: "Bad request" not in record.getMessage()
                           and "Bad HTTP/0.9" not in record.getMessage())
    from crawler.config import ServerConfig
    from crawler.web import create_app, socketio

    config = ServerConfig(data_dir=args.data_dir, allow_private_targets=args.allow_private_targets,
                          max_running_crawls=args.max_running_crawls, cpu_workers=args.cpu_workers,
                          async_mode=args.server)
    app = create_app(config)
    print(f"Crawler Dashboard on http://{args.host}:{args.port}/ (data in {config.data_dir})", flush=True)
    try:
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, log_output=False)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["crawler"].close()
    return 0


def wants_eventlet(argv: list[str]) -> bool:
    return "--server=eventlet" in argv or any(a == "--server" and b == "eventlet" for a, b in zip(argv, argv[1:]))


if __name__ == "__main__":
    if wants_eventlet(sys.argv[1:]):
        # Must happen before anything imports socket, ssl, threading or requests. Guarded by
        # __main__ so worker processes (which re-import this file as __mp_main__) stay unpatched.
        import eventlet

        eventlet.monkey_patch()
    sys.exit(main())
