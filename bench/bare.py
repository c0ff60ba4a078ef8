"""The serving baseline: a bare aiohttp handler returning precomputed bytes.

``python -m bench.bare --port P --spec FILE`` serves each path of FILE (JSON:
``{"routes": {path: {"headers": ..., "body_file": ...}}}``): 200 with the stored
body and headers, or 304 when ``If-None-Match`` equals the ETag. Nothing else: no
routing table beyond one route, no middleware, no access log. It runs as its
own process, as ``feedsvc run`` does, so both are measured the same way.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web


def handler(headers: dict[str, str], body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    etag = next(v for k, v in headers.items() if k.lower() == "etag")
    not_modified = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-encoding")}

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=not_modified)
        return web.Response(body=body, headers=headers)

    return feed


def build(spec: dict[str, dict[str, object]]) -> web.Application:
    app = web.Application()
    for path, route in spec.items():
        raw_headers = route["headers"]
        assert isinstance(raw_headers, dict)
        headers = {str(k): str(v) for k, v in raw_headers.items()}
        app.router.add_get(path, handler(headers, Path(str(route["body_file"])).read_bytes()))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    web.run_app(build(spec["routes"]), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
