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
# Media uses UDP on ephemeral ports: run with --network host, or set SILKLINE_MEDIA_ADDRESSES
# to the address clients reach and publish the UDP range.
CMD ["silkline", "serve"]
