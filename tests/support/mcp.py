"""Talking to the MCP server as a client does: the SDK's client over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx2
import requests
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.support.server import PROJECT_ROOT

TOOLS = {"list_sites", "search_docs", "get_page", "get_outline"}
CRAWL_TOOLS = {"crawl_site", "refresh_site", "crawl_status"}  # for a caller with an API key only


def cookie_of(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


async def call_all(client: Client, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[bool, str]]:
    answers = []
    for name, arguments in calls:
        result = await client.call_tool(name, arguments)
        answers.append((bool(result.is_error), "".join(getattr(c, "text", "") for c in result.content)))
    return answers


def over_stdio(data_dir: Path, calls: list[tuple[str, dict[str, Any]]]) -> tuple[set[str], list[tuple[bool, str]]]:
    async def run() -> tuple[set[str], list[tuple[bool, str]]]:
        parameters = StdioServerParameters(command=sys.executable,
                                           args=["-m", "crawler.outputs.mcp", "--data-dir", str(data_dir)],
                                           cwd=str(PROJECT_ROOT))
        async with Client(parameters, read_timeout_seconds=30) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            return tools, await call_all(client, calls)

    return asyncio.run(run())


def over_http(url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]],
              tools: set[str] = TOOLS) -> list[tuple[bool, str]]:
    """`calls` in one client session, after checking the tools offered are `tools` (with an API
    key, the crawl tools too: CRAWL_TOOLS)."""
    async def run() -> list[tuple[bool, str]]:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                assert {tool.name for tool in (await client.list_tools()).tools} == tools
                return await call_all(client, calls)

    return asyncio.run(run())


def session_over_http(url: str, headers: dict[str, str],
                      calls: list[tuple[str, dict[str, Any]]]) -> tuple[set[str], list[tuple[bool, str]]]:
    """The tools offered to this caller, and the answers to its calls, in one client session."""
    async def run() -> tuple[set[str], list[tuple[bool, str]]]:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                return tools, await call_all(client, calls)

    return asyncio.run(run())


def descriptions_over_http(url: str, headers: dict[str, str]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return {tool.name: tool.description or "" for tool in (await client.list_tools()).tools}

    return asyncio.run(run())


def stdio_session(args: list[str], calls: list[tuple[str, dict[str, Any]]], *, module: str = "crawler.mcp_stdio",
                  between: Any = None) -> tuple[set[str], list[tuple[bool, str]]]:
    """`python -m <module> <args>` as an MCP client starts it; `calls` in one session. `between`:
    a function of (client) awaited after the calls, before the client hangs up."""
    async def run() -> tuple[set[str], list[tuple[bool, str]]]:
        parameters = StdioServerParameters(command=sys.executable, args=["-m", module, *args], cwd=str(PROJECT_ROOT))
        async with Client(parameters, read_timeout_seconds=30) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            answers = await call_all(client, calls)
            if between is not None:
                answers += await between(client)
            return tools, answers

    return asyncio.run(run())
