"""``python -m gaia_lab.platform --run-config FILE``: the detached supervisor `gaia-lab up --background` starts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gaia_lab.errors import PlatformError
from gaia_lab.platform.api import run_background


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gaia_lab.platform")
    parser.add_argument("--run-config", required=True, type=Path)
    args = parser.parse_args()
    try:
        run_background(args.run_config)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
