"""Janus Gateway (Debian's ``janus`` package) for the comparison run: install check, a minimal
configuration generated in a temporary folder, and the process, started and stopped by PID.

Only the VideoRoom plugin and the plain-HTTP transport are loaded (the other plugins,
transports, event handlers and loggers are simply not in the folders Janus is pointed at); the
HTTP API listens on the test address only and ICE gathers on the test interface only (see
load_tests/netns.py: Janus skips loopback interfaces). Janus is never required by the test
suite: :func:`missing` says why it cannot run here.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from load_tests.netns import TestNetwork
from load_tests.server import niceness

PACKAGE = "janus"
PLUGIN = "libjanus_videoroom.so"
TRANSPORT = "libjanus_http.so"
HTTP_PORT = 8088
RTP_PORTS = "20000-40000"
READY = re.compile(r"HTTP webserver started \(port (\d+)")
LIB_DIRS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")


def binary() -> str | None:
    return shutil.which("janus")


def library_dir() -> Path | None:
    """The folder holding Janus's ``plugins/`` and ``transports/``."""
    for pattern in LIB_DIRS:
        for found in sorted(glob.glob(pattern)):
            path = Path(found)
            if (path / "plugins" / PLUGIN).exists() and (path / "transports" / TRANSPORT).exists():
                return path
    return None


def missing() -> str | None:
    """None when Janus can run here, else why not."""
    if binary() is None:
        return "Janus is not installed (`apt-get install janus`; `python -m load_tests janus-compare` run as root installs it)"
    if library_dir() is None:
        return f"Janus is installed but its {PLUGIN} / {TRANSPORT} were not found"
    return None


def install(timeout: float = 600.0) -> None:
    """``apt-get install -y janus`` (root only); a no-op when it is already there."""
    if binary() is not None:
        return
    if os.geteuid() != 0:
        raise RuntimeError("Janus is missing and installing it needs root: apt-get install janus")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", PACKAGE]):
        proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")


def version() -> str | None:
    exe = binary()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\((\d+\.\d+\.\d+)\)", out)
    return match.group(1) if match else None


# ---------------------------------------------------------------------------------- config
def render(sections: dict[str, dict[str, Any]]) -> str:
    """libconfig text (Janus's ``.jcfg``) from ``{section: {key: value}}``."""
    lines = []
    for section, values in sections.items():
        lines.append(f"{section}: {{")
        for key, value in values.items():
            lines.append(f"\t{key} = {_value(value)}")
        lines.append("}")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"unsupported character in a config string: {value!r}")
        return f'"{value}"'
    raise TypeError(f"unsupported config value {value!r}")


def config_files(folder: Path, interface: str, address: str, port: int = HTTP_PORT,
                 rtp_ports: str = RTP_PORTS, debug_level: int = 4) -> dict[str, str]:
    """The three configuration files (name → text) for a Janus bound to ``address`` and
    gathering ICE candidates on ``interface`` only, loading what is in ``folder``'s
    plugins/ and transports/ (see :meth:`JanusServer.prepare`)."""
    janus: dict[str, dict[str, Any]] = {
        "general": {
            "configs_folder": str(folder), "plugins_folder": str(folder / "plugins"),
            "transports_folder": str(folder / "transports"), "events_folder": str(folder / "events"),
            "loggers_folder": str(folder / "loggers"), "debug_level": debug_level,
            "interface": address,  # the address in the SDP (Janus's own guess needs a default route)
            "server_name": "silkline-load-test", "session_timeout": 60,
        },
        "certificates": {},  # Janus makes its own DTLS certificate at start
        "media": {"ipv6": False, "rtp_port_range": rtp_ports},
        "nat": {"nice_debug": False, "full_trickle": False, "ice_lite": False,
                "ice_enforce_list": interface},
        "plugins": {},
        "transports": {},
        "loggers": {},
        "events": {"broadcast": False},
    }
    http: dict[str, dict[str, Any]] = {
        "general": {"json": "plain", "base_path": "/janus", "http": True, "port": port,
                    "ip": address, "https": False},
        "admin": {"admin_http": False, "admin_https": False},
        "cors": {},
    }
    videoroom: dict[str, dict[str, Any]] = {"general": {"string_ids": False}}  # rooms are created over the API
    return {"janus.jcfg": render(janus), "janus.transport.http.jcfg": render(http),
            "janus.plugin.videoroom.jcfg": render(videoroom)}


# ---------------------------------------------------------------------------------- process
class JanusServer:
    """Janus inside the test network's namespace, on ``http://<server address>:8088/janus``.
    ``start()`` returns that URL once the HTTP transport is up; ``stop()`` ends the PID."""

    def __init__(self, network: TestNetwork, log_path: Path, timeout: float = 30.0, nice: int = 0,
                 debug_level: int = 4) -> None:
        self.network = network
        self.log_path = log_path
        self.timeout = timeout
        self.nice = nice
        self.debug_level = debug_level
        self.proc: subprocess.Popen[str] | None = None
        self.url: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def prepare(self) -> Path:
        """The temporary folder: configs, and plugins/transports holding only VideoRoom and
        HTTP (symlinks to the installed ones)."""
        lib = library_dir()
        if lib is None:
            raise RuntimeError(missing() or "Janus not found")
        self._tmp = tempfile.TemporaryDirectory(prefix="silkline-janus-")
        folder = Path(self._tmp.name)
        for sub in ("plugins", "transports", "events", "loggers"):
            (folder / sub).mkdir()
        (folder / "plugins" / PLUGIN).symlink_to(lib / "plugins" / PLUGIN)
        (folder / "transports" / TRANSPORT).symlink_to(lib / "transports" / TRANSPORT)
        files = config_files(folder, self.network.server_interface, self.network.server_address,
                             debug_level=self.debug_level)
        for name, text in files.items():
            (folder / name).write_text(text)
        return folder

    def start(self) -> str:
        folder = self.prepare()
        exe = binary()
        assert exe is not None
        cmd = [*self.network.exec_prefix(), exe, "--config", str(folder / "janus.jcfg"),
               "--configs-folder", str(folder), "--disable-colors", "--debug-timestamps"]
        log = open(self.log_path, "w")  # noqa: SIM115  # closed by the reader thread
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, preexec_fn=niceness(self.nice))  # noqa: PLW1509
        ready = threading.Event()
        port: list[int] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                match = READY.search(line)
                if match and not port:
                    port.append(int(match.group(1)))
                    ready.set()
            log.close()
            ready.set()

        threading.Thread(target=read, daemon=True, name="janus-stdout").start()
        if not ready.wait(self.timeout) or not port:
            self.stop()
            raise RuntimeError(f"Janus did not start within {self.timeout:.0f}s; see {self.log_path}")
        time.sleep(0.2)  # the listener thread is up right after that line
        self.url = f"http://{self.network.server_address}:{port[0]}/janus"
        return self.url

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Janus's own clean shutdown
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # this PID only
                self.proc.wait(5)
        code = self.proc.returncode
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code
