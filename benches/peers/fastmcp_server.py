#!/usr/bin/env python3
"""Benchmark peer: the official MCP Python SDK's FastMCP server (PyPI `mcp`, 1.x).

Stateless Streamable HTTP with plain JSON responses on POST /mcp, plus GET /health.
Registers N tools `benchmark_tool_{i}(param1: str = "", param2: str = "")` whose text result is
the same JSON document bench-server returns:
    {"tool": name, "timestamp": RFC 3339 now, "arguments": {...}, "data": <1000-byte string>}

Usage:
    python fastmcp_server.py --port PORT [--tools N] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from mcp.server.fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse

DATA = "x" * 1000


def make_tool(name: str):
    # One closure per tool, so each call reports its own name. The annotated signature is what
    # FastMCP turns into the inputSchema: {"param1": {"type": "string"}, "param2": {"type": "string"}}.
    def tool(param1: str = "", param2: str = "") -> str:
        return json.dumps(
            {
                "tool": name,
                "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "arguments": {"param1": param1, "param2": param2},
                "data": DATA,
            },
            separators=(",", ":"),
        )

    tool.__name__ = name
    return tool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--tools", type=int, default=100)
    args = ap.parse_args()

    mcp = FastMCP(
        "fastmcp-peer",
        stateless_http=True,
        json_response=True,
        host=args.host,
        port=args.port,
        streamable_http_path="/mcp",
        log_level="WARNING",
    )

    for i in range(args.tools):
        name = f"benchmark_tool_{i}"
        # structured_output=False: plain TextContent only (no outputSchema / structuredContent),
        # matching what bench-server returns.
        mcp.add_tool(
            make_tool(name),
            name=name,
            description=f"Benchmark tool {i}",
            structured_output=False,
        )

    @mcp.custom_route("/health", methods=["GET"])
    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    mcp.run(transport="streamable-http")


if __name__ == "__main__":
    main()
