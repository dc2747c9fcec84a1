FROM python:3.11-slim-bookworm

# libvpx/opus come inside the PyAV wheel; nothing else native is needed at run time.
RUN useradd --create-home silkline
WORKDIR /app
COPY pyproject.toml README.md ./
COPY silkline silkline
COPY signaling signaling
COPY sfu sfu
COPY media media
COPY recorder recorder
COPY web_client web_client
RUN pip install --no-cache-dir . && chown -R silkline /app
USER silkline
ENV SILKLINE_HOST=0.0.0.0 SILKLINE_DATA_DIR=/data SILKLINE_RECORDINGS_DIR=/recordings
VOLUME ["/data", "/recordings"]
EXPOSE 8080
# Media is UDP: set SILKLINE_MEDIA_PORTS (e.g. 40000-40099) and publish that range as UDP
# (docker-compose.yml does), or run with --network host.
# Alive = /healthz answers (slim has no curl: the standard library asks). A TLS node
# (SILKLINE_TLS_CERT) is checked over https without verifying its own certificate.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, ssl, sys, urllib.request; tls = bool(os.environ.get('SILKLINE_TLS_CERT')); port = os.environ.get('SILKLINE_PORT', '8080'); url = ('https' if tls else 'http') + '://127.0.0.1:' + port + '/healthz'; sys.exit(0 if urllib.request.urlopen(url, timeout=4, context=ssl._create_unverified_context() if tls else None).status == 200 else 1)"]
CMD ["silkline", "serve"]
