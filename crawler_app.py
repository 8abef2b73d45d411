#!/usr/bin/env python3
"""Start the Crawler Dashboard server: python crawler_app.py [--host H] [--port P] ...

The same as the `crawler-dashboard` command; the server itself is crawler/dashboard.py.
"""

if __name__ == "__main__":
    # Guarded by __main__: the extraction worker processes re-import this file as __mp_main__,
    # and must neither start a server nor be patched by eventlet.
    from crawler.dashboard import run

    run()
