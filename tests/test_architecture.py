"""Imports point one way: stages never import each other, the store, the web side or the composition."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "feedsvc"
STAGES = ("fetch", "discover", "extract", "clean", "dedupe", "render")
COMPOSERS = ("pipeline", "service", "cli", "web", "feedcache")
FORBIDDEN_FOR_STAGES = {*STAGES, "store", *COMPOSERS}


def feedsvc_imports(path: Path) -> set[str]:
    """Top-level feedsvc modules a file imports (``feedsvc.store.sql`` -> ``store``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "feedsvc" else [f"feedsvc.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "feedsvc" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("stage", [s for s in STAGES if (PACKAGE / f"{s}.py").exists()])
def test_a_stage_imports_no_other_stage_nor_store_nor_web(stage: str) -> None:
    imported = feedsvc_imports(PACKAGE / f"{stage}.py")
    assert not imported & (FORBIDDEN_FOR_STAGES - {stage}), f"{stage} imports {sorted(imported & FORBIDDEN_FOR_STAGES)}"


def test_only_the_composition_imports_the_pipeline_and_the_service() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = path.stem
        imported = feedsvc_imports(path)
        if "service" in imported:
            assert module in ("cli", "service"), f"{path.name} imports service"
        if "pipeline" in imported:
            assert module in ("cli", "service", "pipeline"), f"{path.name} imports pipeline"


def test_the_store_knows_nothing_of_the_stages() -> None:
    for path in (PACKAGE / "store").glob("*.py"):
        imported = feedsvc_imports(path)
        assert not imported & {*STAGES, *COMPOSERS}, f"store/{path.name} imports {sorted(imported & {*STAGES, *COMPOSERS})}"


#: Libraries only CPU workers use (extraction, cleaning, fingerprints, feed rendering, section feeds,
#: charset detection):
#: the process serving feeds must not hold them in memory.
WORKER_ONLY_LIBRARIES = (
    "numpy", "datasketch", "scipy", "readability", "html5lib", "feedparser", "feedgen.feed", "nh3", "charset_normalizer",
)


def test_the_serving_process_does_not_load_the_workers_libraries() -> None:
    probe = (
        "import sys, feedsvc.service, feedsvc.cli\n"
        f"print(','.join(m for m in {WORKER_ONLY_LIBRARIES!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "", f"imported by the serving process: {done.stdout.strip()}"


def test_the_cpu_worker_preparation_loads_what_extraction_needs() -> None:
    """prepare_cpu_worker runs in each pool worker; after the first page the libraries are there."""
    probe = (
        "import sys\n"
        "from feedsvc.pipeline import extract_page, fingerprint_stories, prepare_cpu_worker\n"
        "prepare_cpu_worker()\n"
        "html = '<html><body><h1>A headline</h1><p>' + 'Words of the story go here. ' * 40 + '</p></body></html>'\n"
        "article = extract_page(html, 'https://example.com/a.html', 'k', None, None)\n"
        "fingerprint_stories(article)\n"
        "print(','.join(m for m in ('numpy', 'datasketch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "numpy,datasketch"
