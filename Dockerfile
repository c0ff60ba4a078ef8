# feedsvc: full-text feed republisher (serves feeds and refreshes sections in one process).
#   docker build -t feedsvc .
#   docker run -p 127.0.0.1:8080:8080 -v feedsvc-data:/app/data feedsvc
# Config: the bundled /app/config/feedsvc.yaml, or your own file mounted over it (or
# anywhere, named by FEEDSVC_CONFIG); FEEDSVC_* variables override deployment settings
# (README, "Deployment"). Logs: JSON lines on stderr.

# ---- build: the project's wheel, installed into a venv that the final stage copies
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY feedsvc ./feedsvc
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/feedsvc \
 && /opt/feedsvc/bin/pip install /wheels/feedsvc-*.whl

# ---- final: no build tools, no sources, a non-root user
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 feedsvc \
 && useradd --system --uid 10001 --gid feedsvc --home-dir /app --no-create-home feedsvc \
 && mkdir -p /app/data \
 && chown feedsvc:feedsvc /app/data
COPY --from=build /opt/feedsvc /opt/feedsvc
COPY config /app/config
WORKDIR /app
ENV PATH=/opt/feedsvc/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FEEDSVC_CONFIG=/app/config/feedsvc.yaml \
    FEEDSVC_LISTEN=0.0.0.0:8080
VOLUME ["/app/data"]
EXPOSE 8080
USER feedsvc
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "feedsvc.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["feedsvc"]
CMD ["run"]
