"""Shared pytest fixtures: the local Space Media Network origin and its manifest."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from origin import Origin

FIXTURES = Path(__file__).parent / "fixtures"
ORIGIN_TREE = FIXTURES / "origin"


@pytest.fixture
def manifest() -> dict[str, Any]:
    """The expected facts about every fixture page (see tests/fixtures/build_origin.py)."""
    data: dict[str, Any] = json.loads((ORIGIN_TREE / "manifest.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
async def origin(tmp_path: Path) -> AsyncIterator[Origin]:
    """A started origin serving a private copy of the fixture tree (mutations do not leak)."""
    root = tmp_path / "origin"
    shutil.copytree(ORIGIN_TREE, root)
    async with Origin(root) as served:
        yield served
