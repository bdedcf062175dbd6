#!/usr/bin/env python3
"""bench-server driven by the official MCP Python SDK 2.x (PyPI `mcp`>=2), in either era.

Usage:
    python sdk2_conformance.py URL MODE EXPECTED_VERSION

MODE is the SDK's `Client(mode=...)`: `auto` (probe `server/discover`, fall back to the
`initialize` handshake), `legacy` (the handshake) or a stateless revision such as `2026-07-28`.
EXPECTED_VERSION is the protocol version the connection must end up speaking. The client lists
every tool, resource and prompt (all pages), calls a benchmark tool and `echo`, reads a
resource, gets a prompt and sees an unknown tool refused.

Exits 0 printing `sdk2 conformance ok: ...`, or non-zero with the reason on stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys

from mcp import Client
from mcp.shared.exceptions import MCPError


def require(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"sdk2 conformance: {message}")


async def every_page(fetch, field: str) -> list:
    items, cursor = [], None
    for _ in range(10_000):
        page = await fetch(cursor)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            return items
    sys.exit(f"sdk2 conformance: {field}: more than 10000 pages")


def first_text(result, what: str) -> str:
    require(not result.is_error, f"{what}: is_error, content={result.content!r}")
    require(result.content and result.content[0].type == "text", f"{what}: no text content")
    return result.content[0].text


async def converse(url: str, mode: str, expected_version: str) -> str:
    async with Client(url, mode=mode) as client:
        version = client.protocol_version
        require(version == expected_version, f"spoke {version!r}, expected {expected_version!r}")
        tools = await every_page(lambda c: client.list_tools(cursor=c, cache_mode="bypass"), "tools")
        names = {t.name for t in tools}
        require({"benchmark_tool_0", "echo"} <= names, f"tools/list lacks the benchmark tools: {sorted(names)[:5]}")
        arguments = {"param1": "a", "param2": "b"}
        payload = json.loads(first_text(await client.call_tool("benchmark_tool_0", arguments), "tools/call"))
        require(payload.get("arguments") == arguments, f"tools/call echoed {payload.get('arguments')!r}")
        echoed = first_text(await client.call_tool("echo", {"message": "hello"}), "echo")
        require(echoed == "hello", f"echo answered {echoed!r}")
        resources = await every_page(lambda c: client.list_resources(cursor=c, cache_mode="bypass"), "resources")
        require(resources, "resources/list is empty")
        read = await client.read_resource(str(resources[0].uri), cache_mode="bypass")
        require(read.contents and getattr(read.contents[0], "text", None), "resources/read has no text")
        prompts = await every_page(lambda c: client.list_prompts(cursor=c, cache_mode="bypass"), "prompts")
        require(prompts, "prompts/list is empty")
        prompt = await client.get_prompt(prompts[0].name, {"arg1": "x"})
        require(prompt.messages, "prompts/get has no messages")
        try:
            refused = (await client.call_tool("definitely_not_a_tool", {})).is_error
        except MCPError:
            refused = True
        require(refused, "an unknown tool was not refused")
        return (
            f"sdk2 conformance ok: {version} ({mode}): {len(tools)} tools, {len(resources)} resources, "
            f"{len(prompts)} prompts"
        )


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, mode, expected_version = sys.argv[1:]
    print(asyncio.run(asyncio.wait_for(converse(url, mode, expected_version), timeout=60)))


if __name__ == "__main__":
    main()
