"""`rulesc serve --workers N`: N server processes on one port.

Each worker is a fork of this process made before any event loop or store connection
exists, and binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections over the workers (by the connection's addresses) and no worker is woken for
another's. The workers share nothing in memory: the store (Redis) holds all state, and
pushes reach a player's connections on any worker through it. Any worker takes any
player's token: they were all forked with the same secret.

This process only supervises: it says the port is served once every worker listens,
starts a worker again when one dies (a crash must not shrink the pool for good), and
passes SIGTERM / SIGINT on to the workers, then waits for them. It may also run one
helper process beside the workers (`--history`: the history drainer), supervised the same
way: started again when it dies, stopped with them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable

RESTART_WINDOW = 60.0  # seconds: a worker dying more often than ...
RESTART_LIMIT = 10  # ... this many times in the window stops the whole server
READY_TIMEOUT = 120.0  # seconds for every worker to listen at start
HELPER = -1  # the helper process's index (workers are 0..N-1)


def serve_forked(
    workers: int,
    host: str,
    port: int,
    run_worker: Callable[[int, int], None],
    announce: Callable[[int], None],
    say: Callable[[str], None],
    helper: Callable[[], None] | None = None,
) -> int:
    """Serve `host:port` (0: a free port) in `workers` forked processes: each calls
    run_worker(port, ready_fd), which listens with SO_REUSEPORT, writes a byte to ready_fd
    and returns when the worker stops; announce(port) once they all listen. `helper`, if
    given, runs in one more process until it is stopped. Returns the exit code for the
    whole server."""
    holder, bound = reserve_port(host, port)

    def run(index: int, ready_fd: int) -> None:
        holder.close()
        if index == HELPER:
            assert helper is not None
            helper()
        else:
            run_worker(bound, ready_fd)

    def ready() -> None:
        holder.close()  # every worker listens on the port now
        announce(bound)

    try:
        return supervise(workers, run, ready, say, helper=helper is not None)
    finally:
        holder.close()  # the workers did not all start: ready() never ran


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Hold (bound, never listening) the port the workers will share, so port 0 gives
    one free port for all of them; a socket that does not listen gets no connections."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    return s, s.getsockname()[1]


def supervise(
    workers: int,
    run_worker: Callable[[int, int], None],
    announce: Callable[[], None],
    say: Callable[[str], None],
    *,
    helper: bool = False,
) -> int:
    """Fork `workers` processes, each calling run_worker(index, ready_fd) — which writes a
    byte to ready_fd once it listens and returns when the worker stops — and with `helper`
    one more, run_worker(HELPER, ready_fd), which writes nothing. Returns the exit code for
    the whole server."""
    read_fd, write_fd = os.pipe()
    pids: dict[int, int] = {}  # pid -> worker index
    stopping = False

    parent = os.getpid()

    def start(index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _die_with(parent)
                os.close(read_fd)
                run_worker(index, write_fd)
            except KeyboardInterrupt:
                pass
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # never run the supervisor's own cleanup in a worker
        pids[pid] = index

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        start(i)
    if helper:
        start(HELPER)
    if not _wait_ready(read_fd, workers, pids):
        say("error: the workers did not all start; stopping")
        stop(signal.SIGTERM, None)
    else:
        announce()
    deaths: list[float] = []
    code = 0
    while pids:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = pids.pop(pid, None)
        if index is None or stopping:
            continue
        what = "the helper" if index == HELPER else f"worker {index}"
        say(f"{what} (pid {pid}) exited ({_how(status)}); starting it again")
        now = time.monotonic()
        deaths = [t for t in deaths if t > now - RESTART_WINDOW] + [now]
        if len(deaths) > RESTART_LIMIT:
            say(f"error: workers died {len(deaths)} times within {RESTART_WINDOW:.0f}s; stopping")
            code = 1
            stop(signal.SIGTERM, None)
            continue
        start(index)
    os.close(read_fd)
    os.close(write_fd)
    return code


def _die_with(parent: int) -> None:
    """SIGTERM this worker when the supervisor dies, even by SIGKILL (Linux: prctl
    PR_SET_PDEATHSIG), so no worker serves on, unsupervised, after it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: a process manager that kills the group does the same
    if os.getppid() != parent:  # it died before the prctl took hold
        os.kill(os.getpid(), signal.SIGTERM)


def _wait_ready(fd: int, workers: int, pids: dict[int, int]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    ready = 0
    while ready < workers:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([fd], [], [], min(left, 0.5))
        if readable:
            ready += len(os.read(fd, workers - ready))
        elif _any_exited(pids):
            return False
    return True


def _any_exited(pids: dict[int, int]) -> bool:
    for pid in list(pids):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            pids.pop(pid)
            return True
    return False


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"code {os.waitstatus_to_exitcode(status)}"
