"""Figures, the printed table and the JSON file.

A ``Figure`` is one measured value beside its baseline from the same run; its
ratio is what the targets are about (the machines are shared and noisy, the
absolute values move from run to run, the ratios much less).
"""

from __future__ import annotations

import json
import math
import platform
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    point: str  # the point: "2", "3", ...
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""  # e.g. ">= 0.8x", "<= 2x", "<= 200 MB", "== 0"
    met: bool | None = None  # None: informative, no target
    note: str = ""
    measured_ratio: float | None = None  # e.g. the median of paired rounds' ratios; else value / baseline

    @property
    def ratio(self) -> float | None:
        if self.measured_ratio is not None:
            return self.measured_ratio
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline):
            return None
        return self.value / self.baseline


@dataclass
class Report:
    quick: bool
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self) -> str:
        rows = [("pt", "figure", "value", "baseline", "ratio", "target", "ok")]
        for f in self.figures:
            rows.append((
                f.point,
                f.name,
                _num(f.value, f.unit),
                (_num(f.baseline, f.unit) + f" ({f.baseline_name})") if f.baseline is not None else "",
                f"{f.ratio:.2f}x" if f.ratio is not None else "",
                f.target,
                {True: "yes", False: "NO", None: "-"}[f.met],
            ))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        lines = []
        for index, row in enumerate(rows):
            lines.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        for f in self.figures:
            if f.note:
                lines.append(f"  [{f.point}] {f.name}: {f.note}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"bench-{stamp}.json"
        data = {
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": self.quick,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "figures": [{**asdict(f), "ratio": f.ratio} for f in self.figures],
            "notes": self.notes,
            "details": self.details,
        }
        path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        (directory / "latest.json").write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        return path


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    if unit == "B":
        return f"{value / 1e6:.1f} MB"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10 or value == int(value):
        text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()
