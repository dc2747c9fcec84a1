#!/usr/bin/env bash
# Runs Silkline's whole test suite on a fresh Debian machine with Python 3.11 and pip:
# ruff and mypy first, then pytest (unit, integration, browser).
# System packages the tests need (redis-server, chromium, firefox-esr, ffmpeg for ffprobe, coturn for TURN) are installed
# with apt-get when missing and we are root; otherwise we say exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || [ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "The tests need these Debian packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "Installing Silkline and its test dependencies…"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test,load]'

echo "Lint (ruff) and types (mypy on the server packages)…"
"$PYTHON" -m ruff check .
"$PYTHON" -m mypy

set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
if [ "$status" = "5" ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
