"""Copy helm/gaia-lab/files/gateway/gaia_lab_gateway.py into values.yaml's dask-gateway extraConfig block.

A parent chart cannot template its subcharts' values, so the gateway configuration travels as a string in
values.yaml; the Python file is where it is written and tested. Run after editing the file:

    python helm/sync_gateway_config.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHART = Path(__file__).resolve().parent / "gaia-lab"
SOURCE = CHART / "files" / "gateway" / "gaia_lab_gateway.py"
VALUES = CHART / "values.yaml"
KEY = "      50-gaia-lab-options: |\n"
INDENT = " " * 8


def embedded(values_text: str, source_text: str) -> str:
    """values.yaml's text with the block under KEY replaced by ``source_text``, indented."""
    start = values_text.index(KEY) + len(KEY)
    # The block ends at the first non-empty line indented less than the block.
    rest = values_text[start:]
    match = re.search(rf"^(?!{INDENT}|\n)", rest, flags=re.MULTILINE)
    end = start + (match.start() if match else len(rest))
    block = "".join(f"{INDENT}{line}" if line.strip() else "\n" for line in source_text.splitlines(keepends=True))
    return values_text[:start] + block + values_text[end:]


def main() -> int:
    text = VALUES.read_text(encoding="utf-8")
    new = embedded(text, SOURCE.read_text(encoding="utf-8"))
    if new != text:
        VALUES.write_text(new, encoding="utf-8")
        print(f"updated {VALUES}")
    else:
        print(f"{VALUES} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
