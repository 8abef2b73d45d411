"""DNS rebinding and foreign pages: every route and the Socket.IO handshake check `Host` and
`Origin` against the names the server was started for (crawler/web/auth.py, source_refusal).

The attack: a page on rebind.attacker.example, a name its owner makes resolve to 127.0.0.1, calls
the server as a same-origin page would (`Host: rebind.attacker.example:<port>`) and reads the
answers; or a page of another origin posts to it. Real servers in subprocesses, real clients.
"""

from __future__ import annotations

import pytest

from crawler.service.config import ServerConfig
from crawler.web.auth import HostRule, source_refusal


def test_the_rule_for_each_way_of_starting_the_server():
    """Unit: what `source_refusal` answers for each kind of start (the one rule every surface uses)."""
    def refusal(config: ServerConfig, host: str | None, origin: str | None = None) -> int | None:
        found = source_refusal(HostRule.for_config(config), host, origin)
        return None if found is None else found[0]

    loopback = ServerConfig(host="127.0.0.1", port=5000)
    assert refusal(loopback, "127.0.0.1:5000", "http://localhost:5000") is None
    assert refusal(loopback, "localhost:5001") == 421  # another port: another server
    assert refusal(loopback, "evil.example:5000", "http://evil.example:5000") == 421
    assert refusal(loopback, "localhost:5000", "http://localhost:5001") == 403
    assert refusal(loopback, None) is None  # HTTP/1.0 without Host: never a browser
    # Off loopback (0.0.0.0) with the token that is required there and no --allowed-hosts: any
    # name is answered (the token guards), but a page of another origin than the name asked is not.
    public = ServerConfig(host="0.0.0.0", port=5000, token="t" * 24)
    assert refusal(public, "crawler.lan:5000", "http://crawler.lan:5000") is None
    assert refusal(public, "crawler.lan:5000", "http://evil.example") == 403
    # ... and with --allowed-hosts the list is strict there too.
    listed = ServerConfig(host="0.0.0.0", port=5000, token="t" * 24, allowed_hosts=("crawler.lan",))
    assert refusal(listed, "crawler.lan:5000") is None and refusal(listed, "other.lan:5000") == 421
    # Under gunicorn (address and port unknown) without a token: loopback names on any port.
    wsgi = ServerConfig()
    assert refusal(wsgi, "127.0.0.1:8000") is None and refusal(wsgi, "evil.example:8000") == 421
    assert refusal(ServerConfig(host="127.0.0.1", port=5000, token="t" * 24), "evil.example:5000") == 421
    with pytest.raises(ValueError, match="'https://x' is not a host name or host:port"):
        ServerConfig(allowed_hosts="a.example,https://x")
