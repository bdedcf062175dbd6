#!/usr/bin/env python3
"""Conformance check of bench-server driven by the official MCP Python SDK (PyPI `mcp`, 1.x).

Usage:
    python sdk_conformance.py [flags] http URL
    python sdk_conformance.py [flags] stdio BENCH_SERVER_BINARY [extra server args...]

Flags (anywhere on the command line; they are never passed on to the server):
    --expect-tools N       server was started with N benchmark tools (total must be N + 3)
    --expect-resources N   total number of resources (all pages)
    --expect-prompts N     total number of prompts (all pages)
    --timeout SECONDS      overall deadline (default 60)

Exits 0 and prints `sdk conformance ok: ...` on success; any failure exits non-zero with a
one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from mcp import ClientSession, McpError
from mcp.client.stdio import StdioServerParameters, stdio_client

try:  # mcp >= 1.2x: new name; the old one is deprecated but still present
    from mcp.client.streamable_http import streamable_http_client as _new_http_client
except ImportError:  # pragma: no cover - older 1.x
    _new_http_client = None
from mcp.client.streamable_http import streamablehttp_client as _old_http_client

EXTRA_TOOLS = ("echo", "get_system_time", "convert_time")
ACCEPTED_PROTOCOLS = ("2025-11-25", "2025-06-18", "2025-03-26")


class ConformanceError(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConformanceError(msg)


OUR_FLAGS = {"--expect-tools": int, "--expect-resources": int, "--expect-prompts": int, "--timeout": float}


def parse_args(argv: list[str]) -> argparse.Namespace:
    # Our flags may appear anywhere (also after the target); they are pulled out before the rest is
    # split into transport, target and the verbatim server args (stdio only).
    values: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        key, eq, val = a.partition("=")
        if key in OUR_FLAGS:
            if not eq:
                if i + 1 >= len(argv):
                    sys.exit(f"sdk_conformance: {key} needs a value")
                val = argv[i + 1]
                i += 1
            try:
                values[key] = OUR_FLAGS[key](val)
            except ValueError:
                sys.exit(f"sdk_conformance: bad value for {key}: {val!r}")
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            rest.append(a)
        i += 1
    if len(rest) < 2 or rest[0] not in ("http", "stdio"):
        sys.exit("usage: sdk_conformance.py [--expect-tools N] [--expect-resources N] [--expect-prompts N] "
                 "[--timeout S] (http URL | stdio BINARY [server args...])")
    if rest[0] == "http" and len(rest) > 2:
        sys.exit(f"sdk_conformance: unexpected extra arguments for http transport: {rest[2:]}")
    return argparse.Namespace(
        transport=rest[0],
        target=rest[1],
        server_args=rest[2:],
        expect_tools=values.get("--expect-tools"),
        expect_resources=values.get("--expect-resources"),
        expect_prompts=values.get("--expect-prompts"),
        timeout=values.get("--timeout", 60.0),
    )


@asynccontextmanager
async def open_streams(ns: argparse.Namespace):
    if ns.transport == "http":
        if _new_http_client is not None:
            async with _new_http_client(ns.target) as (read, write, _get_sid):
                yield read, write
        else:
            async with _old_http_client(ns.target) as (read, write, _get_sid):
                yield read, write
    else:
        # stdio_client passes only a minimal environment (HOME, PATH, ...) by default; hand the server
        # ours so RUST_LOG and friends reach it.
        params = StdioServerParameters(
            command=ns.target, args=["--transport", "stdio", *ns.server_args], env=dict(os.environ)
        )
        async with stdio_client(params) as (read, write):
            yield read, write


def text_of(result: Any, what: str) -> str:
    check(not result.isError, f"{what}: isError=true, content={result.content!r}")
    check(len(result.content) >= 1, f"{what}: empty content")
    c0 = result.content[0]
    check(c0.type == "text", f"{what}: content[0].type={c0.type!r}, expected 'text'")
    return c0.text


async def paginate(fetch, items_attr: str, what: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    pages = 0
    while True:
        res = await fetch(cursor)
        pages += 1
        items.extend(getattr(res, items_attr))
        cursor = res.nextCursor
        if not cursor:
            return items
        check(cursor not in seen_cursors, f"{what}: nextCursor {cursor!r} repeated (pagination loop)")
        seen_cursors.add(cursor)
        check(pages <= 10_000, f"{what}: more than 10000 pages")


async def run(ns: argparse.Namespace) -> str:
    async with open_streams(ns) as (read, write):
        async with ClientSession(read, write) as session:
            # --- initialize
            init = await session.initialize()
            check(
                init.serverInfo.name == "bench-server",
                f"initialize: serverInfo.name={init.serverInfo.name!r}, expected 'bench-server'",
            )
            proto = str(init.protocolVersion)
            check(proto in ACCEPTED_PROTOCOLS, f"initialize: protocolVersion={proto!r} not in {ACCEPTED_PROTOCOLS}")

            # --- tools (all pages)
            tools = await paginate(lambda c: session.list_tools(cursor=c), "tools", "tools/list")
            names = [t.name for t in tools]
            check(len(set(names)) == len(names), f"tools/list: duplicate tool names ({len(names) - len(set(names))} dups)")
            for extra in EXTRA_TOOLS:
                check(extra in names, f"tools/list: missing tool {extra!r}")
            if ns.expect_tools is not None:
                n = ns.expect_tools
                check(len(tools) == n + len(EXTRA_TOOLS), f"tools/list: got {len(tools)} tools, expected {n} + {len(EXTRA_TOOLS)}")
                name_set = set(names)
                missing = [f"benchmark_tool_{i}" for i in range(n) if f"benchmark_tool_{i}" not in name_set]
                check(not missing, f"tools/list: missing {len(missing)} benchmark tools, e.g. {missing[:3]}")
            for t in tools:
                schema = t.inputSchema
                check(
                    isinstance(schema, dict) and schema.get("type") == "object",
                    f"tools/list: tool {t.name!r} inputSchema type is not 'object': {schema!r}",
                )

            # --- tools/call benchmark_tool_0
            args = {"param1": "a", "param2": "b"}
            res = await session.call_tool("benchmark_tool_0", args)
            text = text_of(res, "call benchmark_tool_0")
            try:
                payload = json.loads(text)
            except ValueError as e:
                raise ConformanceError(f"call benchmark_tool_0: text is not JSON ({e}): {text[:120]!r}")
            check(isinstance(payload, dict), f"call benchmark_tool_0: JSON is not an object: {text[:120]!r}")
            check(payload.get("tool") == "benchmark_tool_0", f"call benchmark_tool_0: tool={payload.get('tool')!r}")
            check("timestamp" in payload, "call benchmark_tool_0: missing 'timestamp'")
            check(payload.get("arguments") == args, f"call benchmark_tool_0: arguments={payload.get('arguments')!r}")
            check(isinstance(payload.get("data"), str), f"call benchmark_tool_0: data is not a string: {type(payload.get('data')).__name__}")

            # --- echo
            res = await session.call_tool("echo", {"message": "hello"})
            text = text_of(res, "call echo")
            check(text == "hello", f"call echo: text={text!r}, expected 'hello'")

            # --- convert_time
            res = await session.call_tool(
                "convert_time",
                {"time": "2025-01-15T12:00:00Z", "source_timezone": "UTC", "target_timezone": "Asia/Tokyo"},
            )
            text = text_of(res, "call convert_time")
            check("2025-01-15T21:00:00+09:00" in text, f"call convert_time: {text!r} lacks 2025-01-15T21:00:00+09:00")

            # --- get_system_time
            res = await session.call_tool("get_system_time", {"timezone": "Europe/Paris"})
            text = text_of(res, "call get_system_time").strip()
            try:
                datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ConformanceError(f"call get_system_time: {text!r} is not an ISO-8601 datetime")

            # --- resources
            resources = await paginate(lambda c: session.list_resources(cursor=c), "resources", "resources/list")
            if ns.expect_resources is not None:
                check(
                    len(resources) == ns.expect_resources,
                    f"resources/list: got {len(resources)}, expected {ns.expect_resources}",
                )
            uris = [str(r.uri) for r in resources]
            check(len(set(uris)) == len(uris), "resources/list: duplicate resource URIs")
            if resources:
                rr = await session.read_resource(resources[0].uri)
                check(len(rr.contents) >= 1, f"resources/read {uris[0]}: empty contents")
                c0 = rr.contents[0]
                rtext = getattr(c0, "text", None)
                check(isinstance(rtext, str), f"resources/read {uris[0]}: contents[0] has no text")
                try:
                    json.loads(rtext)
                except ValueError as e:
                    raise ConformanceError(f"resources/read {uris[0]}: text is not JSON ({e})")
            templates = await paginate(
                lambda c: session.list_resource_templates(cursor=c), "resourceTemplates", "resources/templates/list"
            )
            check(isinstance(templates, list), "resources/templates/list: not a list")

            # --- prompts
            prompts = await paginate(lambda c: session.list_prompts(cursor=c), "prompts", "prompts/list")
            if ns.expect_prompts is not None:
                check(len(prompts) == ns.expect_prompts, f"prompts/list: got {len(prompts)}, expected {ns.expect_prompts}")
            pnames = [p.name for p in prompts]
            check(len(set(pnames)) == len(pnames), "prompts/list: duplicate prompt names")
            check("benchmark_prompt_0" in pnames, "prompts/list: missing benchmark_prompt_0")
            pr = await session.get_prompt("benchmark_prompt_0", {"arg1": "x"})
            check(len(pr.messages) >= 1, "prompts/get benchmark_prompt_0: no messages")
            check(
                all(m.role == "user" for m in pr.messages[:1]),
                f"prompts/get benchmark_prompt_0: messages[0].role={pr.messages[0].role!r}, expected 'user'",
            )

            # --- unknown tool must be an error (JSON-RPC error -> McpError, or isError result)
            got_error = False
            try:
                res = await session.call_tool("definitely_not_a_tool_xyz", {})
                got_error = bool(res.isError)
                detail = f"isError={res.isError}"
            except McpError as e:
                got_error = True
                detail = f"McpError {e.error.code}"
            check(got_error, f"call unknown tool: expected McpError or isError result, got {detail}")

            # --- session still usable after the error
            res = await session.call_tool("echo", {"message": "still-alive"})
            check(text_of(res, "call echo after error") == "still-alive", "call echo after error: wrong text")

            await session.send_ping()

            return (
                f"sdk conformance ok: transport={ns.transport} tools={len(tools)} resources={len(resources)} "
                f"templates={len(templates)} prompts={len(prompts)} protocol={proto}"
            )


def _leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_leaf_exceptions(sub))
        return out
    return [exc]


def main(argv: list[str]) -> int:
    ns = parse_args(argv)
    try:
        summary = asyncio.run(asyncio.wait_for(run(ns), timeout=ns.timeout))
    except BaseException as exc:  # noqa: BLE001 - report everything loudly
        if isinstance(exc, KeyboardInterrupt):
            raise
        leaves = _leaf_exceptions(exc)
        conf = [e for e in leaves if isinstance(e, ConformanceError)]
        first = conf[0] if conf else leaves[0]
        if isinstance(first, (asyncio.TimeoutError, TimeoutError)):
            reason = f"timed out after {ns.timeout}s"
        elif isinstance(first, ConformanceError):
            reason = str(first)
        else:
            reason = f"{type(first).__name__}: {first}"
            traceback.print_exception(exc, file=sys.stderr)
        reason = " ".join(reason.split())
        print(f"sdk conformance FAILED (transport={ns.transport}): {reason}", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
