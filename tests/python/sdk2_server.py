#!/usr/bin/env python3
"""Benchmark MCP server on the official MCP Python SDK 2.x (`mcp==2.3.0`), Streamable HTTP at /mcp.

Usage:
    python sdk2_server.py --port PORT [--host 127.0.0.1] [--response json|sse] [--tools N]

Prints exactly one line to stdout, `ready http://HOST:PORT/mcp`, once the socket is listening
(`--port 0` picks a free port and the line names the real one). Everything else goes to stderr
at WARNING level.

Serves `benchmark_tool_{i}(param1="", param2="") -> str` (JSON text) for i in 0..N-1, the static
resource `bench://status` and the prompt `greet(name)`.

Both protocol eras on one endpoint, one process
------------------------------------------------
`MCPServer.streamable_http_app()` builds a `StreamableHTTPSessionManager`; its request handler
(`mcp/server/streamable_http_manager.py::_handle_request`) routes purely on the
`MCP-Protocol-Version` *header*:

* header present and NOT one of the handshake versions (2024-11-05, 2025-03-26, 2025-06-18,
  2025-11-25) -> `_streamable_http_modern.handle_modern_request`: the stateless 2026-07-28
  single-exchange path (no initialize, no Mcp-Session-Id, `server/discover`). It is always
  on; no option enables or disables it, and it ignores `stateless_http`.
* header absent or a handshake version -> the legacy 2025 transport, which is stateful
  (initialize + Mcp-Session-Id) when `stateless_http=False` (the default) and session-less
  when `stateless_http=True`.

So the options needed for "both eras" are simply `stateless_http=False` (keep real sessions for
the 2025-11-25 era; the modern era is stateless regardless) and `json_response` from
`--response` (applies to both eras: JSON bodies vs `text/event-stream`). No `--mode` flag is
needed. `host` is passed through so the SDK's automatic DNS-rebinding protection allows
`127.0.0.1:*` / `localhost:*` Host headers when bound to loopback.

Modern-era wire rules enforced by `mcp/shared/inbound.py::classify_inbound_request`: the body
must carry `params._meta` with `io.modelcontextprotocol/protocolVersion` and
`io.modelcontextprotocol/clientCapabilities` (-32602 otherwise); the `MCP-Protocol-Version`
header must equal the `_meta` version, `Mcp-Method` must equal the body method, and for
tools/call, prompts/get, resources/read `Mcp-Name` must equal the name/uri (-32020
HEADER_MISMATCH, HTTP 400 otherwise).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import anyio
import uvicorn

from mcp.server.mcpserver import MCPServer


def build_server(tool_count: int) -> MCPServer:
    server = MCPServer("sdk2-bench-server", version="1.0.0", log_level="WARNING")

    def make_tool(index: int):
        name = f"benchmark_tool_{index}"

        def tool(param1: str = "", param2: str = "") -> str:
            return json.dumps({"tool": name, "arguments": {"param1": param1, "param2": param2}})

        tool.__name__ = name
        return name, tool

    for i in range(tool_count):
        name, fn = make_tool(i)
        server.add_tool(fn, name=name, description=f"Benchmark tool number {i}")

    @server.resource("bench://status", name="status", description="Server status", mime_type="text/plain")
    def status() -> str:
        return "ok"

    @server.prompt(name="greet", description="Greet someone by name")
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    return server


async def serve(args: argparse.Namespace) -> None:
    server = build_server(args.tools)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=(args.response == "json"),
        stateless_http=False,  # real sessions for the 2025 era; the 2026-07-28 era is stateless anyway
        host=args.host,
    )
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    await _ReadyServer(config).serve()


class _ReadyServer(uvicorn.Server):
    """uvicorn server that prints the `ready` line once its socket is listening."""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)  # sys.exit(3) on bind failure, before anything is printed
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            host = self.config.host
            host = f"[{host}]" if ":" in host else host
            sys.stdout.write(f"ready http://{host}:{port}/mcp\n")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", choices=("json", "sse"), default="json")
    parser.add_argument("--tools", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        anyio.run(serve, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
