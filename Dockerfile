# feedsvc: full-text feed republisher.
#   docker build -t feedsvc .
#   docker run -p 8080:8080 -v feedsvc-data:/app/data feedsvc
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY feedsvc ./feedsvc
RUN python -m venv /opt/feedsvc && /opt/feedsvc/bin/pip install .

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
    FEEDSVC_CONFIG=/app/config/feedsvc.yaml \
    FEEDSVC_LISTEN=0.0.0.0:8080
VOLUME ["/app/data"]
EXPOSE 8080
USER feedsvc
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "feedsvc.healthcheck"]
ENTRYPOINT ["feedsvc"]
CMD ["run"]
