"""Rendering pages that only exist after JavaScript runs, in headless Chromium, when needed.

* `detect.py`   is this HTML a client-rendered shell? (pure functions on the fetched bytes), and
                the per-host memory that renders a host's pages directly once it keeps needing it
* `browser.py`  where Chromium is (CRAWLER_CHROMIUM, Playwright's download, Debian's chromium)
* `policy.py`   which addresses and ports the browser may reach (the crawl's AddressPolicy, by port)
* `service.py`  the render process: Playwright and Chromium, owned by one asyncio loop
* `pool.py`     the server side: starts the render process on first need, one per process
* `stage.py`    the engine's rendering stage: decide, render, account
"""

from crawler.render.browser import chromium_path, render_unavailable_reason
from crawler.render.policy import BrowserPolicy
from crawler.render.pool import RenderFailed, RenderPool, RenderResult

__all__ = ["BrowserPolicy", "RenderFailed", "RenderPool", "RenderResult", "chromium_path",
           "render_unavailable_reason"]


def check_render_setting(render: str) -> None:
    """Refuse `render: always` on a machine where no page can be rendered (ConfigError)."""
    from crawler.engine.config import ConfigError

    if render == "always":
        reason = render_unavailable_reason()
        if reason:
            raise ConfigError(f"render is set to always, but pages cannot be rendered here: {reason}")
