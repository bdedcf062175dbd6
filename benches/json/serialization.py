"""The seed's JSON serialization benchmark (ContextForge's scripts/benchmark_json_serialization.py)
on the gateway's own JSON stack: serialize, deserialize and size, the standard library's json
against orjson, run by `cargo xtask bench json` with the gateway venv's Python.

Usage: python serialization.py CASES.json
CASES.json: {"repeats": R, "cases": [{"items": N, "iterations": I, "payload": <JSON>}, ...]}.
Each case's I iterations (the seed's count) are split into R timed runs (time.perf_counter_ns);
a figure is the median of the runs' per-operation averages, in microseconds. Prints one JSON
object a line: first the versions, then {"items", "op", "json", "orjson"} per case and op.
"""

import json
import platform
import statistics
import sys
import time

import orjson


def per_op_us(operation, argument, iterations, repeats):
    runs = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            operation(argument)
        runs.append((time.perf_counter_ns() - start) / iterations / 1000)
    return statistics.median(runs)


def main(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    repeats = spec["repeats"]
    print(json.dumps({"python": platform.python_version(), "orjson": orjson.__version__}), flush=True)
    for case in spec["cases"]:
        data = case["payload"]
        iterations = max(1, case["iterations"] // repeats)
        text = json.dumps(data)
        raw = orjson.dumps(data)
        rows = [
            ("serialize", per_op_us(json.dumps, data, iterations, repeats),
             per_op_us(orjson.dumps, data, iterations, repeats)),
            ("deserialize", per_op_us(json.loads, text, iterations, repeats),
             per_op_us(orjson.loads, raw, iterations, repeats)),
            ("size", len(text.encode("utf-8")), len(raw)),
        ]
        for op, std, fast in rows:
            print(json.dumps({"items": case["items"], "op": op, "json": std, "orjson": fast}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
