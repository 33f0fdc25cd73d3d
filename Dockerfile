# sgevents in a container: the daemon, python3 and shotgun-api3, run as a non-root user.
#
#   docker build -t sgevents .
#   docker run -d --name sgevents \
#     -v /etc/sgevents:/etc/sgevents:ro -v /studio/event_plugins:/plugins:ro \
#     -v sgevents-state:/var/lib/sgevents -e SG_ED_API_KEY=... -p 9090:9090 sgevents
#
# Mounts: /etc/sgevents/sgevents.toml (or shotgunEventDaemon.conf, with --config), whose
# plugin path is /plugins, state_db under /var/lib/sgevents and log path /var/log/sgevents.
# The status endpoint listens on :9090 (/status, /metrics, /healthz for the HEALTHCHECK).

# --- build: the wheel, with maturin, from the locked sources --------------------------------
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/maturin \
 && /opt/maturin/bin/pip install --no-cache-dir maturin==1.16.0
WORKDIR /src
COPY . .
# A plain (not zig) build: the runtime below is the same Debian, so its glibc matches.
RUN /opt/maturin/bin/maturin build --release --locked --strip --compatibility linux --out /dist

# --- runtime: Debian slim, python3, a venv with the wheel and shotgun-api3 --------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist/ /tmp/dist/
# The wheel depends on shotgun-api3, so pip brings it. sgevents and the python that plugins
# run with sit side by side in /opt/sgevents/bin, so `run` needs no --python.
RUN python3 -m venv /opt/sgevents \
 && /opt/sgevents/bin/pip install --no-cache-dir /tmp/dist/sgevents-*.whl \
 && rm -rf /tmp/dist
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/sgevents --shell /usr/sbin/nologin sgevents \
 && mkdir -p /etc/sgevents /plugins /var/lib/sgevents /var/log/sgevents \
 && chown sgevents:sgevents /var/lib/sgevents /var/log/sgevents
USER sgevents
WORKDIR /var/lib/sgevents
VOLUME ["/var/lib/sgevents", "/var/log/sgevents"]
ENV PATH=/opt/sgevents/bin:$PATH
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/sgevents/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4)"]
# tini forwards SIGTERM to sgevents (which then finishes in-flight callbacks) and reaps.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/sgevents/bin/sgevents", "run"]
CMD ["--config", "/etc/sgevents/sgevents.toml", "--http", "0.0.0.0:9090"]
