"""Where Chromium is: found automatically, overridable.

In order: `CRAWLER_CHROMIUM` (a path, or `none` to run as if no browser were installed),
Playwright's own downloaded Chromium (`playwright install chromium`), then Debian's `chromium`
(/usr/bin/chromium) or any `chromium`/`chromium-browser`/`google-chrome` on PATH.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
from pathlib import Path

CHROMIUM_ENV = "CRAWLER_CHROMIUM"
SYSTEM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install one with `playwright install chromium` (or Debian's `apt-get install chromium`), "
                f"or point {CHROMIUM_ENV} at a Chromium executable")


def _playwright_chromium() -> str | None:
    """Playwright's downloaded browser (`playwright install chromium`), newest first."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    if root == "0":
        return None
    patterns = ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/chrome-linux*/headless_shell")
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(root, pattern)), reverse=True)
        for path in found:
            if os.access(path, os.X_OK):
                return path
    return None


def chromium_path() -> str | None:
    """The Chromium executable to launch, or None when there is none (or CRAWLER_CHROMIUM=none)."""
    override = os.environ.get(CHROMIUM_ENV, "").strip()
    if override:
        if override.lower() == "none":
            return None
        return override if os.access(override, os.X_OK) else None
    found = _playwright_chromium()
    if found:
        return found
    for candidate in SYSTEM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def render_unavailable_reason() -> str | None:
    """Why pages cannot be rendered on this machine, or None when they can (as far as can be told
    without starting a browser)."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    override = os.environ.get(CHROMIUM_ENV, "").strip()
    if override.lower() == "none":
        return f"rendering is turned off ({CHROMIUM_ENV}=none)"
    if override and chromium_path() is None:
        return f"{CHROMIUM_ENV}={override} is not an executable file"
    if chromium_path() is None:
        return "no Chromium found: " + INSTALL_HINT
    return None


CLOSED_PROXY_HOST = "127.0.0.1"  # Chromium's proxy: a closed port of it (every request is routed first)


def launch_args() -> list[str]:
    """Chromium flags: headless and quiet, no GPU, no images; `--no-sandbox` only when root (the
    sandbox cannot start as root).

    Every connection goes to a closed local port unless the render process answers it itself
    (see service.py): nothing reaches the network behind its back. What a proxy cannot carry is
    turned off: WebRTC may use no UDP that does not go through the proxy (so it gathers no ICE
    candidate at all, host candidates included: they would give away local addresses, and STUN
    or TURN servers would be sent UDP to any address and port), no QUIC, no DNS of its own (no
    prefetch, no built-in resolver: every name is "not found" but the proxy's literal address),
    no background or component traffic. The page's script does not even see the WebRTC and
    WebTransport APIs (PAGE_INIT_SCRIPT)."""
    args = ["--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            "--disable-extensions", "--mute-audio", "--blink-settings=imagesEnabled=false",
            "--disable-features=DnsOverHttps,MediaRouter,OptimizationHints,Translate,AsyncDns,"
            "NetworkTimeServiceQuerying",
            "--webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--enforce-webrtc-ip-permission-check",
            "--dns-prefetch-disable", "--disable-domain-reliability", "--no-pings",
            f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {CLOSED_PROXY_HOST}",
            f"--proxy-server=http://{CLOSED_PROXY_HOST}:9", "--proxy-bypass-list=<-loopback>"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(0, "--no-sandbox")
    return args

# Run in every frame before the page's own scripts (iframes included, about:blank ones too):
# the APIs that open connections the render process cannot answer are not there at all.
# Workers cannot create a peer connection (no RTCPeerConnection is exposed to them).
PAGE_INIT_SCRIPT = """(() => {
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (/^(webkit)?RTC|^WebTransport/.test(name)) {
      try { delete globalThis[name]; } catch (e) { /* not configurable: the flags still hold */ }
    }
  }
})();"""
