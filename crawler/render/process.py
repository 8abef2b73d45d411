"""The render process: `python -m crawler.render.process`, started by crawler/render/pool.py.

One process owns Playwright and its Chromium, driven from one asyncio loop, so the web server
never hosts Playwright (its sync API is bound to one thread, and under eventlet every thread is
a green thread). Requests and answers are JSON lines on stdin/stdout.

* Every request a page makes is answered by this process (`route`): images, media and fonts are
  not loaded; only GET over http(s); robots.txt is obeyed for every subrequest; and each request
  is made with the crawler's own guarded HTTP session (crawler/engine/netguard.py), which checks the
  address actually connected to against the crawl's BrowserPolicy; a response of the dashboard
  itself (its DASHBOARD_HEADER) is refused wherever it came from. Chromium itself is pointed at a
  closed proxy port, so nothing leaves it any other way (WebSockets are refused too; WebRTC,
  QUIC and Chromium's own DNS are off: see browser.py).
* A response reaches the page with its own CORS headers and no others: a script reads a
  cross-origin response only when that origin allows it, as on the web. (Playwright would add
  `Access-Control-Allow-Origin` for the page's origin to any fulfilled response without one.)
* A page stays at its URL: a navigation of its own (`location`, a meta refresh, a form, a
  frame targeting the top) is refused and the page is answered as `navigated` (skipped), so
  another page's content, or Chromium's error page, is never saved under its URL.
* At most `max_pages` pages at once, each under its deadline; a stop cancels a page at once.
* A browser above its memory limit is replaced: new pages go to a fresh one, the old one is
  closed when its pages are done. A browser that crashes fails only the pages it held; the
  next page starts a new one.
* The process leaves, taking Chromium with it, when its stdin closes (the server exited or was
  killed) or its parent is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil
import requests

from crawler.engine.errors import SLOW_DOWN_STATUSES, FetchFailed
from crawler.engine.fetch import HTML_TYPES, MAX_BODY_BYTES, fetch_robots_txt, read_body
from crawler.engine.netguard import DASHBOARD_HEADER, DASHBOARD_REFUSAL, DEADLINES, BlockedAddress, guard_session
from crawler.engine.robots import (
    MAX_ROBOTS_BYTES,
    RobotsRules,
    robots_text,
    rules_from_response,
)
from crawler.render.browser import PAGE_INIT_SCRIPT, chromium_path, launch_args
from crawler.render.policy import BrowserPolicy

log = logging.getLogger("crawler.render")

BLOCKED_TYPES = ("image", "media", "font")
IDLE_SECONDS = 0.2  # a page is rendered when no request of it has been open for this long
MEMORY_CHECK_SECONDS = 1.0
MAX_CONTEXTS = 8  # crawls whose browser context is kept warm; the least recently used idle one goes
ROBOTS_TTL = 300.0
DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding", "connection", "set-cookie")
DEBUG = bool(os.environ.get("CRAWLER_RENDER_DEBUG"))


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_descendants(pid: int | None = None) -> None:
    """SIGKILL every process below this one (Chromium and Playwright's driver)."""
    for process in _descendants(pid or os.getpid()):
        try:
            process.kill()
        except psutil.Error:
            pass


@dataclass
class Context:
    """A browser context of one crawl (its cookies and storage), reused by its pages: a fresh page
    in a warm context renders in half the time of a fresh context. Each page's requests are
    answered for the job that page renders."""

    handle: Any
    jobs: dict[Any, Job] = field(default_factory=dict)  # page → job


@dataclass
class Browser:
    """One Chromium; `retired` once over its memory limit (no new pages), closed when idle."""

    handle: Any
    generation: int
    pages: int = 0
    retired: bool = False
    dead: bool = False
    contexts: OrderedDict[str, Context] = field(default_factory=OrderedDict)


@dataclass
class Job:
    id: int
    crawl: str
    url: str
    html: str | None
    seconds: float  # the page's deadline, counted from when its rendering starts
    deadline: float
    policy: BrowserPolicy
    user_agent: str
    respect_robots: bool
    per_host: int
    timeout: float
    blocked: list[str] = field(default_factory=list)
    slow_down: bool = False
    open_requests: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    main_served: bool = False
    navigated: str | None = None  # where the page tried to take itself, once loaded
    status: int | None = None
    content_type: str | None = None


class Fetcher:
    """Subrequests through the crawler's guarded sessions, in threads (requests blocks)."""

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="render-fetch")
        self._sessions: dict[tuple[Any, ...], requests.Session] = {}
        self._local = threading.local()
        self._robots: dict[tuple[str, str], tuple[float, RobotsRules]] = {}
        self._robots_lock = threading.Lock()

    def _session(self, policy: BrowserPolicy, port: int, user_agent: str) -> requests.Session:
        sessions = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = self._local.sessions = {}
        key = (policy, port, user_agent)
        session = sessions.get(key)
        if session is None:
            session = guard_session(requests.Session(), lambda address: policy.refusal(address, port))
            session.headers["User-Agent"] = user_agent
            sessions[key] = session
        return session

    def get(self, job: Job, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        session = self._session(job.policy, port, job.user_agent)
        deadline = min(job.deadline, time.monotonic() + 3 * job.timeout)
        sent = {k: v for k, v in headers.items() if k.lower() in ("accept", "accept-language", "referer")}
        with DEADLINES.limit(deadline):
            response = session.get(url, headers=sent, timeout=job.timeout, stream=True, allow_redirects=False)
        with response:
            if DASHBOARD_HEADER in response.headers:
                raise DashboardAnswered(parts.hostname or "", parts.netloc, DASHBOARD_REFUSAL)
            body = read_body(response, threading.Event(), deadline, MAX_BODY_BYTES)
            # Lower-cased: Playwright looks for `access-control-allow-origin` by that exact name.
            kept = {k.lower(): v for k, v in response.headers.items() if k.lower() not in DROPPED_HEADERS}
            return response.status_code, kept, body

    def robots_allow(self, job: Job, url: str) -> bool:
        """The same robots.txt rules the crawl obeys, fetched once per origin and user agent."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        key = (origin, job.user_agent)
        now = time.monotonic()
        with self._robots_lock:
            cached = self._robots.get(key)
        if cached is None or now - cached[0] > ROBOTS_TTL:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                status, body, truncated = fetch_robots_txt(
                    self._session(job.policy, port, job.user_agent), origin + "/robots.txt",
                    timeout=min(job.timeout, 10.0), stop=threading.Event(), max_bytes=MAX_ROBOTS_BYTES)
                rules = rules_from_response(status, robots_text(body, truncated), job.user_agent)
            except FetchFailed as exc:
                if exc.code == "blocked_address":  # not a question of robots: the address is refused
                    raise
                rules = rules_from_response(None, None, job.user_agent)
            except Exception:  # noqa: BLE001 - unreachable: the conservative reading (disallow)
                rules = rules_from_response(None, None, job.user_agent)
            cached = (now, rules)
            with self._robots_lock:
                self._robots[key] = cached
        return cached[1].allows(url)


class DashboardAnswered(BlockedAddress):
    def __str__(self) -> str:
        return DASHBOARD_REFUSAL


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RenderService:
    def __init__(self, max_pages: int, memory_limit: int, idle_seconds: float = 60.0) -> None:
        self.max_pages = max_pages
        self.memory_limit = memory_limit
        self.idle_seconds = idle_seconds  # a browser without pages for this long is closed
        self.last_page = time.monotonic()
        self.slots = asyncio.Semaphore(max_pages)
        self.fetcher = Fetcher(max(8, 4 * max_pages))
        self.tasks: dict[int, asyncio.Task] = {}
        self.playwright: Any = None
        self.browser: Browser | None = None
        self.retired: list[Browser] = []
        self.generation = 0
        self.launch_lock = asyncio.Lock()
        self.host_slots: dict[tuple[Any, str], asyncio.Semaphore] = {}
        self.out_lock = threading.Lock()

    # ---- the pipe ----

    def send(self, message: dict[str, Any]) -> None:
        line = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")
        with self.out_lock:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        watchers = [asyncio.create_task(self.watch_memory()), asyncio.create_task(self.watch_parent())]
        self.send({"event": "ready", "pid": os.getpid()})
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return  # the server closed the pipe or died: leave, and take Chromium along
                message = json.loads(line)
                op = message.get("op")
                if op == "render":
                    job = self.job_of(message)
                    self.last_page = time.monotonic()
                    self.tasks[job.id] = asyncio.create_task(self.run(job))
                elif op == "cancel":
                    task = self.tasks.get(int(message["id"]))
                    if task is not None:
                        task.cancel()
                elif op == "status":  # pages being rendered now (crawler/render/pool.py `pages_in_flight`)
                    self.send({"id": int(message["id"]), "ok": True, "pages": len(self.tasks),
                               "browsers": self.generation})
                elif op == "quit":
                    return
        finally:
            for watcher in watchers:
                watcher.cancel()
            await self.close()

    def job_of(self, message: dict[str, Any]) -> Job:
        seconds = float(message["deadline"])
        return Job(int(message["id"]), str(message.get("crawl") or ""), message["url"], message.get("html"),
                   seconds, time.monotonic() + seconds, BrowserPolicy.from_json(message["policy"]),
                   message["user_agent"], bool(message.get("respect_robots", True)),
                   int(message.get("per_host") or 4), float(message.get("timeout") or 20.0))

    async def run(self, job: Job) -> None:
        try:
            answer = await self.render(job)
        except asyncio.CancelledError:
            answer = {"ok": False, "code": "stopped", "reason": "stopped"}
        except Exception as exc:  # one page fails, the service goes on
            log.exception("render of %s failed", job.url)
            answer = {"ok": False, "code": "render_error", "reason": f"render error: {type(exc).__name__}: {exc}"}
        finally:
            self.tasks.pop(job.id, None)
            self.last_page = time.monotonic()
        self.send({"id": job.id, "blocked": job.blocked[:20], "slow_down": job.slow_down, **answer})

    # ---- browsers ----

    async def current_browser(self) -> Browser:
        async with self.launch_lock:
            browser = self.browser
            if browser is not None and not browser.dead and not browser.retired:
                return browser
            if browser is not None and not browser.dead:
                self.retired.append(browser)
            if self.playwright is None:
                from playwright.async_api import async_playwright

                self.playwright = await async_playwright().start()
            path = chromium_path()
            if path is None:
                raise LaunchFailed("no Chromium found")
            handle = await self.playwright.chromium.launch(
                executable_path=path, headless=True, args=launch_args(), chromium_sandbox=False,
                handle_sigint=False, handle_sigterm=False, handle_sighup=False, timeout=30_000)
            self.generation += 1
            fresh = Browser(handle, self.generation)
            handle.on("disconnected", lambda _browser: setattr(fresh, "dead", True))
            self.browser = fresh
            self.send({"event": "browser", "generation": fresh.generation})
            return fresh

    async def release(self, browser: Browser) -> None:
        browser.pages -= 1
        if browser.retired and browser.pages == 0 and not browser.dead:
            browser.dead = True
            if browser in self.retired:
                self.retired.remove(browser)
            try:
                await browser.handle.close()
            except Exception:  # noqa: BLE001 - already gone
                pass

    def browser_memory(self) -> int:
        """Memory of the Chromium processes below this one: PSS (pages they share counted once),
        else RSS."""
        total = 0
        for process in _descendants(os.getpid()):
            try:
                if "node" in process.name():
                    continue
                try:
                    total += process.memory_full_info().pss
                except (psutil.AccessDenied, AttributeError):
                    total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    async def watch_memory(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(MEMORY_CHECK_SECONDS)
            browser = self.browser
            if browser is None or browser.dead or browser.retired:
                continue
            if not self.tasks and browser.pages == 0 and time.monotonic() - self.last_page > self.idle_seconds:
                # No crawl needs it now: give its memory back; the next page starts a fresh one.
                browser.retired = True
                browser.pages += 1
                await self.release(browser)
                self.send({"event": "idle", "generation": browser.generation})
                continue
            used = await loop.run_in_executor(None, self.browser_memory)
            if used > self.memory_limit:
                browser.retired = True
                self.send({"event": "recycled", "generation": browser.generation, "memory": used})
                if browser.pages == 0:
                    browser.pages += 1
                    await self.release(browser)

    async def watch_parent(self) -> None:
        parent = os.getppid()
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                kill_descendants()
                os._exit(0)

    async def close(self) -> None:
        browsers = [b for b in [self.browser, *self.retired] if b is not None and not b.dead]
        for browser in browsers:
            try:
                await asyncio.wait_for(browser.handle.close(), 2.0)
            except Exception:  # noqa: BLE001 - killed below anyway
                pass
        if self.playwright is not None:
            try:
                await asyncio.wait_for(self.playwright.stop(), 2.0)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
        kill_descendants()

    # ---- one page ----

    async def render(self, job: Job) -> dict[str, Any]:
        async with self.slots:
            try:
                browser = await self.current_browser()
            except Exception as exc:  # noqa: BLE001 - a browser that cannot start: no page renders
                return {"ok": False, "code": "render_unavailable", "reason": f"Chromium could not start: {exc}"}
            # The deadline runs from here: waiting for a free slot or for the browser to start
            # is not the page's fault.
            job.deadline = time.monotonic() + job.seconds
            self.send({"event": "started", "id": job.id})
            browser.pages += 1
            context: Context | None = None
            page = None
            try:
                context = await self.context_for(browser, job)
                page = await context.handle.new_page()
                context.jobs[page] = job
                return await asyncio.wait_for(self.load(job, page), max(0.1, job.deadline - time.monotonic()))
            except TimeoutError:
                return self.too_slow(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any browser error fails this page, not the service
                if browser.dead or "closed" in str(exc).lower():
                    return {"ok": False, "code": "render_crashed", "transient": True,
                            "reason": "the browser closed or crashed while rendering the page"}
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return {"ok": False, "code": "render_error", "reason": f"render error: {text[:300]}"}
            finally:
                if context is not None and page is not None:
                    context.jobs.pop(page, None)
                    if not browser.dead:
                        try:
                            await asyncio.wait_for(asyncio.shield(page.close(run_before_unload=False)), 2.0)
                        except BaseException:  # noqa: BLE001 - a page that will not close: its context goes
                            await self.drop_context(browser, job.crawl)
                await self.release(browser)

    async def context_for(self, browser: Browser, job: Job) -> Context:
        context = browser.contexts.get(job.crawl)
        if context is not None:
            browser.contexts.move_to_end(job.crawl)
            return context
        handle = await browser.handle.new_context(
            user_agent=job.user_agent, accept_downloads=False, service_workers="block",
            java_script_enabled=True, viewport={"width": 1280, "height": 900})
        context = Context(handle)
        await handle.add_init_script(PAGE_INIT_SCRIPT)
        await handle.route("**/*", lambda route, request: self.dispatch(context, route, request))
        await handle.route_web_socket("**/*", lambda ws: ws.close(code=1008, reason="refused"))
        browser.contexts[job.crawl] = context
        for key, old in list(browser.contexts.items()):
            if len(browser.contexts) <= MAX_CONTEXTS:
                break
            if not old.jobs:
                await self.drop_context(browser, key)
        return context

    async def drop_context(self, browser: Browser, key: str) -> None:
        context = browser.contexts.pop(key, None)
        if context is not None:
            try:
                await asyncio.wait_for(context.handle.close(), 2.0)
            except Exception:  # noqa: BLE001 - gone with its browser
                pass

    async def dispatch(self, context: Context, route: Any, request: Any) -> None:
        """Answer a request for the job of the page that made it; refuse what no job owns."""
        try:
            job = context.jobs.get(request.frame.page)
        except Exception:  # noqa: BLE001 - no frame (a worker's request): nobody vouches for it
            job = None
        if job is None:
            try:
                await route.abort("blockedbyclient")
            except Exception:  # noqa: BLE001 - the page may be gone already
                pass
            return
        await self.answer(job, route, request)

    @staticmethod
    def too_slow(job: Job) -> dict[str, Any]:
        return {"ok": False, "code": "render_timeout",
                "reason": "the page did not finish rendering in time (its scripts kept it busy)"}

    @staticmethod
    def navigated(job: Job) -> dict[str, Any]:
        return {"ok": False, "code": "navigated", "status": job.status, "target": job.navigated,
                "reason": f"the page navigated away to {(job.navigated or '')[:200]} (a script, a meta refresh or a "
                          "form; refused: a page is saved only with its own content)"}

    async def left(self, job: Job, exc: BaseException) -> bool:
        """Whether `exc` (from loading or reading the page) comes from the page navigating away.
        The browser says so as the navigation starts, which can be before its request reaches
        `answer` and is refused there: that is waited for (a second at most)."""
        text = str(exc)
        if job.navigated is None and ("another navigation" in text or "is navigating" in text):
            waited = time.monotonic() + 1.0
            while job.navigated is None and time.monotonic() < waited:
                await asyncio.sleep(0.02)
            if job.navigated is None:
                job.navigated = "another page"
        return job.navigated is not None

    async def load(self, job: Job, page: Any) -> dict[str, Any]:
        started = time.monotonic()
        try:
            response = await page.goto(job.url, wait_until="load")
        except Exception as exc:
            if await self.left(job, exc):
                return self.navigated(job)
            raise
        loaded = time.monotonic()
        if job.status is None and response is not None:
            job.status = response.status
            job.content_type = (await response.all_headers()).get("content-type")
        status = job.status
        if status is not None and status >= 400:
            return {"ok": True, "status": status, "html": "", "url": page.url, "content_type": job.content_type}
        while True:
            while job.open_requests or time.monotonic() - job.last_activity < IDLE_SECONDS:
                await asyncio.sleep(0.05)
            # On a busy machine the page's main thread can lag behind its requests: a response
            # answered a while ago may not have reached its script yet (a Docsify route's Markdown
            # saved as the empty shell). One task through that thread lets what is queued run; if
            # it asked for more, wait for that too.
            mark = job.last_activity
            try:
                await page.evaluate("() => new Promise(done => setTimeout(done, 0))")
            except Exception as exc:
                if await self.left(job, exc):
                    return self.navigated(job)
                raise
            if not job.open_requests and job.last_activity == mark:
                break
        if job.navigated is None and urlsplit(page.url).scheme not in ("http", "https"):
            job.navigated = page.url  # about:blank, or Chromium's error page: never the site's content
        if job.navigated is not None:
            return self.navigated(job)
        idle = time.monotonic()
        try:
            html = await page.content()
            facts = await page.evaluate(
                "() => ({hash: !!document.querySelector('a[href^=\"#/\"], a[href^=\"#!/\"]'),"
                " docsify: !!window.$docsify})")
        except Exception as exc:
            if await self.left(job, exc):
                return self.navigated(job)
            raise
        if job.navigated is not None:
            return self.navigated(job)
        if DEBUG:
            log.warning("%s: load %.2f s, idle %.2f s, content %.2f s", job.url, loaded - started, idle - loaded,
                        time.monotonic() - idle)
        return {"ok": True, "status": status or 200, "html": html, "url": page.url,
                "content_type": job.content_type, "hash_routes": bool(facts.get("hash") or facts.get("docsify"))}

    async def answer(self, job: Job, route: Any, request: Any) -> None:
        job.open_requests += 1
        job.last_activity = time.monotonic()
        try:
            await self._answer(job, route, request)
        except Exception:  # noqa: BLE001 - the page may be gone already
            try:
                await route.abort("failed")
            except Exception:  # noqa: BLE001 - the page may be gone already
                pass
        finally:
            job.open_requests -= 1
            job.last_activity = time.monotonic()

    async def _answer(self, job: Job, route: Any, request: Any) -> None:
        url = request.url
        if request.resource_type in BLOCKED_TYPES:
            await route.abort("blockedbyclient")
            return
        navigation = request.is_navigation_request() and request.frame.parent_frame is None
        main = navigation and not job.main_served
        if navigation and not main and request.redirected_from is None:
            # The page takes itself elsewhere (a server's redirect of the page itself has
            # `redirected_from`): whatever it would show is not the page at this URL.
            if job.navigated is None:
                job.navigated = url
            await route.abort("blockedbyclient")
            return
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https") or request.method not in ("GET", "HEAD"):
            job.blocked.append(f"{request.method} {url[:200]} (only GET over http/https)")
            await route.abort("blockedbyclient")
            return
        if main:
            job.main_served = True
            if job.html is not None:
                job.status, job.content_type = 200, "text/html; charset=utf-8"
                await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=job.html)
                return
        elif job.respect_robots:
            loop = asyncio.get_running_loop()
            try:
                allowed = await loop.run_in_executor(self.fetcher.pool, self.fetcher.robots_allow, job, url)
            except FetchFailed as exc:  # robots.txt itself is on a refused address
                job.blocked.append(f"{url[:200]} ({exc.reason})")
                await route.abort("addressunreachable")
                return
            if not allowed:
                job.blocked.append(f"{url[:200]} (disallowed by robots.txt)")
                await route.abort("blockedbyclient")
                return
        host_key = (job.policy, urlsplit(url).netloc)
        slot = self.host_slots.get(host_key)
        if slot is None:
            slot = self.host_slots[host_key] = asyncio.Semaphore(job.per_host)
        loop = asyncio.get_running_loop()
        async with slot:
            try:
                status, headers, body = await loop.run_in_executor(
                    self.fetcher.pool, self.fetcher.get, job, url, await request.all_headers())
            except BlockedAddress as exc:
                job.blocked.append(f"{url[:200]} ({exc})")
                await route.abort("addressunreachable")
                return
            except Exception:  # noqa: BLE001 - as a browser sees a network error
                await route.abort("failed")
                return
        if status in SLOW_DOWN_STATUSES:
            job.slow_down = True
        origin = next((v for k, v in (await request.all_headers()).items() if k.lower() == "origin"), None)
        if (origin is not None and not navigation and origin.strip().lower() != origin_of(url)
                and "access-control-allow-origin" not in headers):
            # A cross-origin read its origin does not allow: the page gets the network error a
            # browser would give it, never the response.
            job.blocked.append(f"{url[:200]} (a cross-origin response without CORS headers: not for the page's script)")
            await route.abort("accessdenied")
            return
        if navigation:  # the page itself (each hop of its redirects): what the crawl records
            job.status = status
            job.content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
            kind = (job.content_type or "").split(";", 1)[0].strip().lower()
            if status < 300 and kind and kind not in HTML_TYPES:  # a file, not a page: never shown
                await route.fulfill(status=200, content_type="text/plain", body="")
                return
        await route.fulfill(status=status, headers=headers, body=body)


class LaunchFailed(Exception):
    pass


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="render: %(levelname)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's; it closes our stdin
    def on_sigterm(*_: object) -> None:
        kill_descendants()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    max_pages = int(os.environ.get("CRAWLER_RENDER_PAGES") or os.cpu_count() or 2)
    memory_limit = int(os.environ.get("CRAWLER_RENDER_MEMORY_LIMIT") or 1536 * 1024 * 1024)
    idle_seconds = float(os.environ.get("CRAWLER_RENDER_IDLE_SECONDS") or 60)
    try:
        asyncio.run(RenderService(max(1, max_pages), memory_limit, idle_seconds).serve())
    finally:
        kill_descendants()


if __name__ == "__main__":
    main()
