"""Container health check: ask the running service's own ``/healthz`` (no curl in slim images).

``python -m feedsvc.healthcheck [PATH]`` finds the service where the daemon
listens: ``FEEDSVC_LISTEN`` if set, else the config's ``listen`` (the file
``FEEDSVC_CONFIG`` names, else ``config/feedsvc.yaml``), else 127.0.0.1:8080.
A wildcard bind address (``0.0.0.0``, ``::``) is asked on loopback. Exit 0 when
the path (default ``/healthz``) answers 200 within the timeout, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

DEFAULT_LISTEN = "127.0.0.1:8080"
TIMEOUT = 4.0
_WILDCARDS = ("", "0.0.0.0", "::", "[::]", "*")


def listen_address(env: Mapping[str, str]) -> str:
    """HOST:PORT the daemon binds, by the same rules the daemon uses."""
    if env.get("FEEDSVC_LISTEN"):
        return env["FEEDSVC_LISTEN"]
    from feedsvc.config import load_settings
    from feedsvc.errors import ConfigError

    try:
        settings = load_settings(env=env)
    except ConfigError:
        return DEFAULT_LISTEN
    host = f"[{settings.listen_host}]" if ":" in settings.listen_host else settings.listen_host
    return f"{host}:{settings.listen_port}"


def probe_url(listen: str, path: str = "/healthz") -> str:
    host, _, port = listen.rpartition(":")
    if host in _WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = args[0] if args else "/healthz"
    url = probe_url(listen_address(os.environ if env is None else env), path)
    try:
        # No proxies: the service is local, whatever HTTP_PROXY the environment sets.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=TIMEOUT) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
