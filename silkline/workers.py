"""``silkline serve --redis URL --workers N``: one supervisor, N node processes on this machine.

One node process is one event loop on one core; a machine with more cores runs more of them.
The supervisor runs no app: it starts ``python -m silkline serve <the same args> --workers 1
--node-id <base>-w<i>`` per worker (base = ``--node-id`` or the host name). The workers share
the public port through SO_REUSEPORT (the kernel spreads new connections over them) and each
listens on its own internal address (silkline/listeners.py); they meet in Redis like nodes on
different machines do.

- SIGTERM / SIGINT is forwarded to every worker, which drains (silkline/drain.py); the
  supervisor waits for them, at most ``drain_timeout`` + 15 s, then kills what is left, and
  exits 0 when every worker exited 0. The workers stay in the supervisor's process group, so
  a terminal's Ctrl-C reaches them itself: a SIGINT the kernel sent (``si_code`` SI_KERNEL) is
  therefore not forwarded, or each worker would take it as the second signal that cuts its drain
  short. A second signal sent by a process is forwarded, and does exactly that.
- A worker that exits when nobody asked it to (killed, crashed, or drained by a signal sent to
  it alone) is started again after 1 s under a new node id ``<base>-w<i>-r<generation>``: its
  calls moved to other nodes, and a node that comes back must not claim them under the old
  name. At most 5 respawns per worker per minute; past that the worker stays down (an error in
  the log). A worker that exits 2 refused its configuration and is not started again.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from silkline.config import ENV, Config
from silkline.listeners import PORT_PLACEHOLDER

logger = logging.getLogger(__name__)

RESPAWN_DELAY_S = 1.0
RESPAWN_LIMIT = 5  # respawns of one worker ...
RESPAWN_WINDOW_S = 60.0  # ... within this many seconds
KILL_AFTER_DRAIN_S = 15.0  # past drain_timeout + this, what is left is killed
TICK_S = 0.2  # the longest the supervisor sleeps without looking at its workers
REFUSED_CONFIG = 2  # silkline serve's exit code for a configuration that cannot work
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel sent (a terminal's Ctrl-C), not kill()
SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}


def node_processes(config: Config) -> int:
    """How many node processes ``serve`` runs; 1 means this process is the node.

    A ValueError in words for a count that cannot work: more than one without Redis (the
    embedded single process keeps its state in memory, so it cannot be shared)."""
    workers = config.workers
    if workers < 0:
        raise ValueError(f"--workers is a number of node processes, 1 or more (0 = one per core), not {workers}")
    if config.redis_url is None:
        if workers > 1:
            raise ValueError(f"--workers {workers} needs --redis: worker processes share the contact centre "
                             f"through Redis. Without it Silkline is one embedded process; leave --workers out "
                             f"(or set {ENV['redis_url']})")
        return 1
    count = workers or os.cpu_count() or 1
    if count > 1 and config.port == 0:
        raise ValueError(f"with {count} workers give --port: they share one public port, and port 0 would "
                         f"give each worker another one")
    if count > 1 and config.advertise_url and PORT_PLACEHOLDER not in config.advertise_url:
        raise ValueError(f"with {count} workers each one needs its own internal URL: put {PORT_PLACEHOLDER} in "
                         f"--advertise-url (e.g. http://10.0.0.5:{PORT_PLACEHOLDER}), or use --workers 1")
    return count


class RespawnBudget:
    """At most ``limit`` respawns within any ``window`` seconds (times are passed in)."""

    def __init__(self, limit: int = RESPAWN_LIMIT, window: float = RESPAWN_WINDOW_S) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """True (and counted) when one more respawn fits in the window."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


@dataclass
class Worker:
    """One slot of the supervisor: the node process currently in it, and its history."""

    index: int  # 1-based, as printed
    base_id: str  # <base>-w<i>
    generation: int = 0  # respawns so far
    process: subprocess.Popen[bytes] | None = None
    respawn_at: float | None = None
    down: bool = False  # gave up: too many respawns, or it refused its configuration
    returncode: int | None = None  # of the last process, once it exited
    budget: RespawnBudget = field(default_factory=RespawnBudget)

    @property
    def node_id(self) -> str:
        return self.base_id if self.generation == 0 else f"{self.base_id}-r{self.generation}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    """Starts, watches, respawns and stops the worker processes (module docstring)."""

    def __init__(self, config: Config, argv: list[str], count: int) -> None:
        self.config = config
        self.argv = list(argv)  # ``serve …`` as given: each worker gets it, then its own flags
        self.count = count
        base = config.node_id or socket.gethostname()
        self.workers = [Worker(i, f"{base}-w{i}") for i in range(1, count + 1)]
        self.env = dict(os.environ)
        if not config.secret:
            # one random secret for all the workers, or a token from one would fail at the others
            logger.warning("no %s set: the workers share a random secret; tokens die with this supervisor "
                           "and nodes on other machines cannot check them", ENV["secret"])
            self.env[ENV["secret"]] = secrets.token_urlsafe(32)
        self.stopping_since: float | None = None

    def command(self, worker: Worker) -> list[str]:
        command = [sys.executable, "-m", "silkline", *self.argv, "--workers", "1", "--node-id", worker.node_id]
        if self.config.internal_port:
            command += ["--internal-port", str(self.config.internal_port + worker.index - 1)]
        return command  # a flag given twice: argparse keeps the last, so ours win

    def run(self) -> int:
        """Supervise until every worker has exited; the exit code of ``silkline serve``."""
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # taken with sigtimedwait, never by a handler
        try:
            print(f"Silkline supervisor pid {os.getpid()}: {self.count} workers", flush=True)
            for worker in self.workers:
                self._start(worker)
            return self._watch()
        finally:
            for worker in self.workers:
                if worker.alive:
                    self._kill(worker)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    def _watch(self) -> int:
        while True:
            info = signal.sigtimedwait(SIGNALS, TICK_S)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self._on_signal(info.si_signo, from_kernel=info.si_code == SI_KERNEL)
            now = time.monotonic()
            self._reap(now)
            if self.stopping_since is not None:
                if not any(w.alive for w in self.workers):
                    return self._exit_code()
                if now - self.stopping_since > self.config.drain_timeout + KILL_AFTER_DRAIN_S:
                    for worker in self.workers:
                        if worker.alive:
                            logger.error("worker %d/%d: node %s did not stop in time: killed",
                                         worker.index, self.count, worker.node_id)
                            self._kill(worker)
                    return 1
                continue
            for worker in self.workers:
                if worker.respawn_at is not None and now >= worker.respawn_at:
                    worker.respawn_at = None
                    worker.generation += 1
                    self._start(worker, respawned=True)
            if all(w.down for w in self.workers):
                logger.error("every worker is down: the supervisor stops")
                return REFUSED_CONFIG if all(w.returncode == REFUSED_CONFIG for w in self.workers) else 1

    def _on_signal(self, signo: int, from_kernel: bool) -> None:
        name = signal.Signals(signo).name
        first = self.stopping_since is None
        if first:
            self.stopping_since = time.monotonic()
            print(f"Silkline supervisor: {name}, the workers drain (up to {self.config.drain_timeout:g} s)…",
                  flush=True)
        if signo == signal.SIGINT and from_kernel:
            return  # a terminal's Ctrl-C: it reached every worker of our process group already
        for worker in self.workers:
            if worker.alive and worker.process is not None:
                worker.process.send_signal(signo)
        if not first:
            logger.info("second %s: forwarded, the workers cut their drain short", name)

    def _reap(self, now: float) -> None:
        for worker in self.workers:
            process = worker.process
            if process is None or process.poll() is None:
                continue
            worker.process, worker.returncode = None, process.returncode
            if self.stopping_since is not None:
                continue
            rc = process.returncode
            if rc == REFUSED_CONFIG:
                worker.down = True
                logger.error("worker %d/%d: node %s exited %d (its configuration cannot work, see above): "
                             "not started again", worker.index, self.count, worker.node_id, rc)
            elif worker.budget.allow(now):
                worker.respawn_at = now + RESPAWN_DELAY_S
                logger.warning("worker %d/%d: node %s (pid %d) exited %s: starting it again in %g s as %s-r%d",
                               worker.index, self.count, worker.node_id, process.pid, rc, RESPAWN_DELAY_S,
                               worker.base_id, worker.generation + 1)
            else:
                worker.down = True
                logger.error("worker %d/%d: node %s exited %s after %d restarts within %g s: it stays down",
                             worker.index, self.count, worker.node_id, rc, RESPAWN_LIMIT, RESPAWN_WINDOW_S)

    def _start(self, worker: Worker, respawned: bool = False) -> None:
        # the supervisor has no threads, so preexec_fn is safe here
        worker.process = subprocess.Popen(self.command(worker), env=self.env, start_new_session=False,
                                          preexec_fn=functools.partial(_prepare_worker, os.getpid()))
        worker.returncode = None
        print(f"worker {worker.index}/{self.count}: node {worker.node_id} pid {worker.process.pid}"
              f"{' (respawned)' if respawned else ''}", flush=True)

    def _kill(self, worker: Worker) -> None:
        if worker.process is not None:
            worker.process.kill()
            worker.returncode = worker.process.wait()

    def _exit_code(self) -> int:
        codes = [w.returncode for w in self.workers]
        if all(code == 0 for code in codes) and not any(w.down for w in self.workers):
            print("Silkline supervisor: every worker stopped", flush=True)
            return 0
        logger.error("workers stopped with exit codes %s", codes)
        return 1


def _prepare_worker(supervisor: int) -> None:
    """In the worker, before exec: the supervisor's blocked signals would stay blocked there;
    and on Linux the worker gets SIGTERM (so it drains) if the supervisor dies without
    stopping it (kill -9), instead of running on as an orphan that still holds the port."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != supervisor:  # it died before prctl: nobody would tell us
            os._exit(1)
