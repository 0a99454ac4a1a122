"""Start-up latency of the ``gaia-lab`` command and of ``import gaia_lab``, against the command-line tools a user
would reach for instead: ``stac-client --help`` (pystac-client) and ``eodag --help``.

Every figure is a fresh Python process (nothing cached in memory but the OS's file cache), best of ``REPEAT`` runs,
the commands taking turns within each round. GAIA Lab runs from this checkout (``python -m gaia_lab.cli``, as the
``gaia-lab`` script does, with the checkout first on ``sys.path``); the peers run their installed console scripts.
``python -c pass`` is the interpreter's own start-up, shown for scale.

Goals: ``gaia-lab --help`` < 0.5 s; ``gaia-lab search sst`` on the demo lake < 1.5 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import demo_lake, interleaved, print_table, record, spread

REPEAT = 5
# 1-2.5 s each, 20-30x GAIA Lab's figures: timed once (after the warm-up run), not REPEAT times
ONCE = frozenset({"stac-client --help", "import pystac_client"})
ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
# Modules `gaia-lab --help` has no use for; the check below reports any that a help run loads.
HEAVY = ("xarray", "pandas", "dask", "rioxarray", "rasterio", "odc", "pystac", "gaia_lab.platform.api")
# Modules a search of the demo lake (local static STAC catalogues, an intake-esm datastore) has no use for.
SEARCH_HEAVY = (
    *(m for m in HEAVY if m != "pystac"),
    "numpy",
    "intake",
    "intake_esm",
    "polars",
    "pyarrow",
    "zarr",
    "requests",
    "fsspec",
)


def _env() -> dict[str, str]:
    lake = demo_lake()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "GAIA_LAB_CATALOG": str(lake / "federation.yaml")}


def _command(args: list[str], env: dict[str, str]) -> Any:
    def run() -> None:
        subprocess.run(args, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run


def heavy_modules_loaded_by_help(
    env: dict[str, str], args: tuple[str, ...] = ("--help",), heavy: tuple[str, ...] = HEAVY
) -> list[str]:
    """The heavy modules in ``sys.modules`` after ``gaia-lab --help`` (or ``args``) ran."""
    probe = (
        "import sys, contextlib, io, json\n"
        "from gaia_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({list(args)!r})\n"
        f"heavy = {heavy!r}\n"
        "print(json.dumps([h for h in heavy if h in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def main() -> dict[str, Any]:
    env = _env()
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "gaia-lab --help": [python, "-m", "gaia_lab.cli", "--help"],
        "stac-client --help": [str(BIN / "stac-client"), "--help"],
        "eodag --help": [str(BIN / "eodag"), "--help"],
        "import gaia_lab": [python, "-c", "import gaia_lab"],
        "import pystac_client": [python, "-c", "import pystac_client"],
        "import eodag": [python, "-c", "import eodag"],
        "gaia-lab search sst (demo lake)": [python, "-m", "gaia_lab.cli", "search", "sst"],
    }
    for run in commands.values():  # warm the file cache and the .pyc files
        _command(run, env)()
    timed = interleaved(REPEAT, {name: _command(args, env) for name, args in commands.items()}, once=ONCE)
    best = {name: min(times) for name, (times, _) in timed.items()}
    heavy = heavy_modules_loaded_by_help(env)
    search_heavy = heavy_modules_loaded_by_help(env, ("search", "sst"), SEARCH_HEAVY)
    result: dict[str, Any] = {
        "repeat": REPEAT,
        "once": sorted(ONCE),
        "seconds": {name: round(t, 3) for name, t in best.items()},
        "spread": {name: spread(times) for name, (times, _) in timed.items()},
        "help_over_stac_client": round(best["gaia-lab --help"] / best["stac-client --help"], 2),
        "help_over_eodag": round(best["gaia-lab --help"] / best["eodag --help"], 2),
        "import_over_pystac_client": round(best["import gaia_lab"] / best["import pystac_client"], 2),
        "heavy_modules_loaded_by_help": heavy,
        "heavy_modules_loaded_by_search": search_heavy,
        "goals_met": {
            "help_lt_0_5_s": best["gaia-lab --help"] < 0.5,
            "search_lt_1_5_s": best["gaia-lab search sst (demo lake)"] < 1.5,
        },
    }
    table = [
        (
            f"{name} (s, {'one run' if name in ONCE else f'best of {REPEAT}'})",
            f"{best[name]:.3f}",
            result["spread"][name],
        )
        for name in commands
    ]
    table += [
        ("gaia-lab --help / stac-client --help", f"{result['help_over_stac_client']:.2f}", ""),
        ("gaia-lab --help / eodag --help", f"{result['help_over_eodag']:.2f}", ""),
        ("import gaia_lab / import pystac_client", f"{result['import_over_pystac_client']:.2f}", ""),
        ("heavy modules loaded by gaia-lab --help", ", ".join(heavy) or "none", ""),
        ("heavy modules loaded by gaia-lab search sst", ", ".join(search_heavy) or "none", ""),
    ]
    print_table("command-line start-up (fresh processes)", table)
    record("cli_latency", result)
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
