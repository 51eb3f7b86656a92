"""Helpers shared by reproductions: printing side by side, machine info, metrics files."""

from __future__ import annotations

import time
from pathlib import Path

from ..runs import machine, write_json  # noqa: F401  (machine: re-exported for the reproductions)


def side_by_side(rows: list[tuple[str, str, str]], title: str) -> str:
    """Format (quantity, ours, paper) rows as an aligned table."""
    w0 = max(len(r[0]) for r in rows + [("quantity", "", "")])
    w1 = max(len(r[1]) for r in rows + [("", "ours", "")])
    lines = [title, f"  {'quantity':<{w0}}  {'ours':<{w1}}  paper", "  " + "-" * (w0 + w1 + 9)]
    lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def finish(out: Path, name: str, results: dict, settings: dict, started: float, figures: list[Path]) -> dict:
    payload = {
        "experiment": name,
        "results": results,
        "settings": settings,
        "figures": [p.name for p in figures],
        "machine": machine(),
        "seconds": time.perf_counter() - started,
    }
    write_json(Path(out) / "metrics.json", payload)
    return payload
