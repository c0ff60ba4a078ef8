"""The Dockerfile's steps, run without a container engine.

The Dockerfile is read, not paraphrased: its build stage's COPY lines pick the
build context, its final stage's ENV, WORKDIR, COPY, VOLUME, HEALTHCHECK,
ENTRYPOINT and CMD say how the service is laid out and started. The test then
does the same here, in a temporary directory standing in for the image's root:
build the project's wheel from exactly the copied files, install it into a
fresh venv (offline: the dependencies come from the test interpreter's
site-packages; ``bench/container_steps.py`` installs them from the package
index as the image build does), copy the config, start the ENTRYPOINT + CMD
with the image's environment, poll the HEALTHCHECK command until it passes,
read feeds, and stop it with SIGTERM.

What a container engine adds (a non-root user, the volume, port publishing) is
checked statically against the Dockerfile and docker-compose.yml.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import feedparser
import pytest
from ruamel.yaml import YAML

from daemon import Daemon, config_text, free_port, start_daemon
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- reading the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        words = json.loads(self.args)
        assert isinstance(words, list) and all(isinstance(w, str) for w in words), self
        return words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV values in order (``$VAR`` references left as written)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, _, value = word.partition("=")
                values[key] = value
        return values


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    logical = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        logical = ""
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, "an instruction before FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def read_dockerignore(path: Path = ROOT / ".dockerignore") -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: PurePosixPath, patterns: list[str]) -> bool:
    """.dockerignore semantics, enough for ours: a pattern matches from the context's root
    (a matched folder takes its contents along); ``**/`` matches at any depth."""
    parts = relative.parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            bare = pattern[3:]
            if any(fnmatch.fnmatch(part, bare) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


# ---------------------------------------------------------------- doing what it says


@dataclass(frozen=True)
class ImageTree:
    """A directory standing in for the image's root; container paths map into it."""

    root: Path
    env: dict[str, str]  # the final stage's environment, paths mapped
    workdir: Path
    entrypoint: list[str]
    healthcheck: list[str]

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def which(self, command: str) -> str:
        found = shutil.which(command, path=self.env["PATH"])
        assert found is not None, f"{command} is not on the image's PATH {self.env['PATH']}"
        return found


def build_image_tree(root: Path, *, offline: bool = True) -> ImageTree:
    """Run the Dockerfile's build and final stages into ``root``."""
    build, final = read_dockerfile()[0], read_dockerfile()[-1]
    patterns = read_dockerignore()
    src = root / "build-src"
    for copy in build.all("COPY"):  # COPY pyproject.toml README.md ./  /  COPY feedsvc ./feedsvc
        *sources, target = copy.args.split()
        for source in sources:
            _copy_context(ROOT / source, src / target / (Path(source).name if target.endswith("/") else ""), patterns)
    venv = root / "opt" / "feedsvc"
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(src), *(["--no-build-isolation"] if offline else [])])
    (wheel,) = wheels.glob("feedsvc-*.whl")
    _run([sys.executable, "-m", "venv", *(["--without-pip"] if offline else []), str(venv)])
    venv_python = venv / "bin" / "python"
    if offline:
        _run([*pip, "--python", str(venv_python), "install", "--no-deps", "--no-index", str(wheel)])
        site = _run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip()
        ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        (Path(site) / "test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")
    else:
        _run([str(venv / "bin" / "pip"), "--disable-pip-version-check", "-q", "install", str(wheel)])

    for copy in final.all("COPY"):
        words = copy.args.split()
        if words[0].startswith("--from="):
            continue  # the venv, already in place
        *sources, target = words
        for source in sources:
            _copy_context(ROOT / source, root / target.lstrip("/"), patterns)
    for volume in final.all("VOLUME"):
        for container_path in json.loads(volume.args):
            (root / container_path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    env = {}
    for key, value in final.env().items():
        value = value.replace("$PATH", os.environ.get("PATH", "")).replace("${PATH}", os.environ.get("PATH", ""))
        env[key] = _map_paths(value, root)
    workdir = root / final.last("WORKDIR").args.lstrip("/")
    health = final.last("HEALTHCHECK").args
    return ImageTree(
        root=root,
        env=env,
        workdir=workdir,
        entrypoint=final.last("ENTRYPOINT").exec_form() + final.last("CMD").exec_form(),
        healthcheck=json.loads(health[health.index("CMD") + 3 :].strip()),
    )


def _copy_context(source: Path, target: Path, patterns: list[str]) -> None:
    relative = PurePosixPath(source.relative_to(ROOT).as_posix())
    assert not ignored(relative, patterns), f"the Dockerfile copies {relative}, which .dockerignore leaves out"
    if source.is_dir():
        shutil.copytree(
            source, target, dirs_exist_ok=True,
            ignore=lambda folder, names: [
                n for n in names if ignored(PurePosixPath((Path(folder) / n).relative_to(ROOT).as_posix()), patterns)
            ],
        )
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target if not target.is_dir() else target / source.name)


def _map_paths(value: str, root: Path) -> str:
    parts = []
    for part in value.split(":"):
        if part.startswith(("/app", "/opt/feedsvc")):
            part = str(root / part.lstrip("/"))
        parts.append(part)
    return ":".join(parts)


def _run(command: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def point_config_at(tree: ImageTree, origin: Origin) -> None:
    """Keep the bundled config but aim its sites at the local origin (never at live sites)."""
    path = Path(tree.env["FEEDSVC_CONFIG"])
    yaml = YAML()
    bundled = yaml.load(path.read_text(encoding="utf-8"))
    ours = yaml.load(config_text(origin, str(bundled["storage"])))
    bundled["sites"] = ours["sites"]
    bundled["fetch"]["min_delay"] = 0.0
    bundled["jitter"] = 0
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(bundled, out)


async def healthcheck(tree: ImageTree, env: Mapping[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        tree.which(tree.healthcheck[0]), *tree.healthcheck[1:], cwd=tree.workdir, env=dict(env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 10)


async def start_like_the_image(tree: ImageTree, port: int) -> tuple[Daemon, dict[str, str]]:
    """ENTRYPOINT + CMD with the image's environment; the container's 0.0.0.0:8080 is a
    loopback port here."""
    env = {**tree.env, "FEEDSVC_LISTEN": f"127.0.0.1:{port}"}
    command = [tree.which(tree.entrypoint[0]), *tree.entrypoint[1:]]
    daemon = await start_daemon("image", Path(env["FEEDSVC_CONFIG"]), tree.workdir, port=port, env=env, command=command)
    return daemon, env


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageTree]:
    yield build_image_tree(tmp_path_factory.mktemp("image"))


async def test_the_image_steps_give_a_service_that_is_healthy_and_serves_feeds(
    image_tree: ImageTree, origin: Origin
) -> None:
    tree = image_tree
    venv_python = tree.path("/opt/feedsvc/bin/python")
    where = _run([str(venv_python), "-c", "import feedsvc; print(feedsvc.__file__)"], cwd=tree.workdir)
    assert Path(where.strip()).is_relative_to(tree.path("/opt/feedsvc")), "feedsvc did not come from the wheel"
    point_config_at(tree, origin)
    port = free_port()
    daemon, env = await start_like_the_image(tree, port)
    try:
        started = time.monotonic()
        while await healthcheck(tree, env) != 0:
            assert daemon.alive(), daemon.tail()
            assert time.monotonic() - started < 30, f"HEALTHCHECK never passed:\n{daemon.tail()}"
            await asyncio.sleep(0.2)
        assert (await daemon.get("/healthz"))[0] == 200
        await daemon.wait_ready()
        deadline = time.monotonic() + 60
        while True:
            status, headers, body = await daemon.get("/feeds/spacewar/nukewars.atom")
            assert status == 200
            if len(feedparser.parse(body).entries) >= 6:
                break
            assert time.monotonic() < deadline, f"no entries scraped:\n{daemon.tail()}"
            await asyncio.sleep(0.5)
        assert headers["Content-Type"].startswith("application/atom+xml")
        assert (await daemon.get("/feeds/all.json"))[0] == 200
    finally:
        code = await daemon.stop(timeout=15)
    assert code == 0, f"SIGTERM did not stop the service cleanly:\n{daemon.tail()}"
    assert await healthcheck(tree, env) == 1, "HEALTHCHECK passed with nothing listening"
    assert tree.path("/app/data/feedsvc.db").is_file(), "the store is not in the volume"
    assert all(line.startswith("{") for line in daemon.log_path.read_text().splitlines() if line), "logs not JSON"


def test_the_dockerfile_has_what_a_container_deployment_needs() -> None:
    stages = read_dockerfile()
    build, final = stages[0], stages[-1]
    assert len(stages) >= 2, "not a multi-stage build"
    assert final.base == build.base and final.base.startswith("python:3.11-slim"), final.base
    assert not any("apt-get" in run.args or "gcc" in run.args for run in final.all("RUN")), "build tools in the final image"
    user = final.last("USER").args
    assert user not in ("root", "0"), "the service runs as root"
    volumes = [v for i in final.all("VOLUME") for v in json.loads(i.args)]
    env = final.env()
    exposed = {int(p.split("/")[0]) for i in final.all("EXPOSE") for p in i.args.split()}
    assert int(env["FEEDSVC_LISTEN"].rpartition(":")[2]) in exposed
    assert env["FEEDSVC_LISTEN"].startswith("0.0.0.0:"), "the service must listen beyond the container's loopback"
    assert final.last("ENTRYPOINT").exec_form()[0] == "feedsvc", "ENTRYPOINT must be exec form so SIGTERM reaches feedsvc"
    assert final.last("CMD").exec_form() == ["run"]
    assert "CMD [" in final.last("HEALTHCHECK").args and "feedsvc.healthcheck" in final.last("HEALTHCHECK").args
    assert env.get("PYTHONUNBUFFERED") == "1", "logs must reach stdout/stderr at once"
    # The bundled config's SQLite store lives in the volume.
    config = YAML(typ="safe").load(Path(ROOT / "config" / "feedsvc.yaml").read_text(encoding="utf-8"))
    storage = PurePosixPath(final.last("WORKDIR").args) / config["storage"].removeprefix("sqlite:///")
    assert any(storage.is_relative_to(volume) for volume in volumes), (storage, volumes)
    assert env["FEEDSVC_CONFIG"].startswith(tuple(c.args.split()[-1] for c in final.all("COPY") if c.args.startswith("config")))
    patterns = read_dockerignore()
    for kept in (".venv", "tests", ".git", "data"):
        assert ignored(PurePosixPath(kept), patterns), f".dockerignore lets {kept} into the build context"


def test_compose_starts_feedsvc_after_a_healthy_postgres() -> None:
    compose: dict[str, Any] = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    postgres, feedsvc = services["postgres"], services["feedsvc"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert feedsvc["depends_on"]["postgres"]["condition"] == "service_healthy"
    storage = feedsvc["environment"]["FEEDSVC_STORAGE"]
    assert storage.startswith("postgresql://") and "@postgres/" in storage
    db = postgres["environment"]
    assert storage == f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@postgres/{db['POSTGRES_DB']}"
    grace = float(str(feedsvc["stop_grace_period"]).removesuffix("s"))
    default_stop = YAML(typ="safe").load((ROOT / "config" / "feedsvc.yaml").read_text(encoding="utf-8"))
    assert grace >= _seconds(default_stop.get("stop_timeout", 10)) + 2, "SIGKILL before the graceful stop ends"


def _seconds(value: object) -> float:
    text = str(value)
    return float(text[:-1]) * {"s": 1, "m": 60}[text[-1]] if text[-1] in "sm" else float(text)
