"""Run times of the notebooks executed on the platform, printed as a table at the end of the session."""

from __future__ import annotations

from typing import Any

import pytest

TIMINGS: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def notebook_timings() -> dict[str, dict[str, Any]]:
    """notebook name -> {"seconds", "status", "warnings", "plots", ...}, filled by the tests as they run."""
    return TIMINGS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("notebooks executed on the platform")
    terminalreporter.write_line(
        f"{'notebook':<36} {'status':<7} {'seconds':>8} {'budget':>7} {'warnings':>9} {'plots':>6}"
    )
    for name, row in sorted(TIMINGS.items()):
        terminalreporter.write_line(
            f"{name:<36} {row['status']:<7} {row['seconds']:>8.1f} {row['budget']:>7.0f} {len(row['warnings']):>9} "
            f"{len(row['plots']):>6}"
        )
    total = sum(row["seconds"] for row in TIMINGS.values())
    terminalreporter.write_line(f"{'total':<36} {'':<7} {total:>8.1f}")
    warnings = sorted({text for row in TIMINGS.values() for text in row["warnings"]})
    for text in warnings:
        terminalreporter.write_line(f"warning printed by a notebook: {text}")
