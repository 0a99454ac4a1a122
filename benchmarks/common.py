"""Shared helpers: timing, result lines, the demo lake and servers started for a benchmark."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"  # curated history, tracked: written only with --record
RUNS = Path(__file__).parent / "runs"  # every run, untracked (.gitignore)

# Set by ``python -m benchmarks --record``: this run's lines are appended to the tracked history too.
RECORD = False


def best_of(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    """The best wall time of ``repeat`` runs (the least disturbed by a noisy machine) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return min(times), result


def interleaved(
    repeat: int,
    actions: dict[str, Callable[[], Any]],
    before: Callable[[], None] | None = None,
    once: Collection[str] = (),
) -> dict[str, tuple[list[float], Any]]:
    """Every wall time of each action over ``repeat`` rounds, the actions taking turns within a round (on a shared
    machine a slow spell then hits every contender, not only the one measured during it), and the result of its
    fastest run. ``before`` runs untimed before every timed run (e.g. evicting files from the page cache).
    Actions named in ``once`` run in the first round only: peers many times slower than GAIA Lab, whose ratio no
    slow spell could turn around, and whose repeats would fill most of the run's time."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    results: dict[str, Any] = {}
    for round_number in range(repeat):
        for name, action in actions.items():
            if round_number and name in once:
                continue
            if before is not None:
                before()
            start = time.perf_counter()
            result = action()
            took = time.perf_counter() - start
            if not times[name] or took < min(times[name]):
                results[name] = result
            times[name].append(took)
    return {name: (times[name], results[name]) for name in actions}


def interleaved_best(
    repeat: int, actions: dict[str, Callable[[], Any]], once: Collection[str] = ()
) -> dict[str, tuple[float, Any]]:
    """Best wall time of each action over ``repeat`` interleaved rounds (see ``interleaved``) and its result."""
    return {name: (min(times), result) for name, (times, result) in interleaved(repeat, actions, once=once).items()}


def spread(times: list[float]) -> str:
    """``best-worst s`` of a contender's runs: how noisy its figure was."""
    return f"{min(times):.2f}-{max(times):.2f} s"


def median(values: list[float]) -> float:
    return statistics.median(values)


def record(name: str, payload: dict[str, Any]) -> Path:
    """Append one JSON line to benchmarks/runs/<name>.jsonl (untracked), and to the tracked
    benchmarks/results/<name>.jsonl only when this run was asked to be recorded (``--record``)."""
    line = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        **payload,
    }
    targets = [RUNS] + ([RESULTS] if RECORD else [])
    for folder in targets:
        folder.mkdir(exist_ok=True)
        with (folder / f"{name}.jsonl").open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line) + "\n")
    return targets[-1] / f"{name}.jsonl"


def demo_lake() -> Path:
    from gaia_lab.datalake import build_lake, default_lake_dir

    build_lake(default_lake_dir())
    return default_lake_dir()


@contextmanager
def stac_api_servers(documents: list[Path], latency: float, *, cache: bool = False) -> Iterator[list[str]]:
    """One benchmark STAC API process per items file, on 127.0.0.1; all stopped on exit. ``cache``: each server
    encodes a distinct answer once and sends its bytes again (next to no CPU per request)."""
    processes = []
    try:
        urls = []
        for document in documents:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.stac_api_server",
                    str(document),
                    "--latency",
                    str(latency),
                    *(["--cache"] if cache else []),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).parents[1],
            )
            processes.append(process)
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("listening on "):
                raise RuntimeError(f"benchmark STAC API did not start: {line!r}")
            urls.append(line.split()[-1])
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def print_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for name, value, goal in rows:
        print(f"  {name.ljust(width)}  {value:>12}  {goal}")
