"""Real `rulesc serve` processes for tests (workers, the deploy layout, fault tests), and
what /proc says about them: their worker processes and the connections each holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid


async def serve(args: list[str], log: Path, *, port: int = 0, files: int | None = None) -> Served:
    """`rulesc serve ARGS --port PORT` in its own process; returns once it listens.
    `files`: its open-file limit (RLIMIT_NOFILE, soft and hard)."""

    def limit_files() -> None:  # in the child, before it runs Python
        if files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    with log.open("w") as err:  # the child has its own copy
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from rulesc.cli.main import app; app()",
            "serve",
            *args,
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            start_new_session=True,  # a signal meant for the test runner does not reach it
            preexec_fn=limit_files if files is not None else None,
        )
    assert proc.stdout is not None
    while True:
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)).decode()
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"the server did not start:\n{log.read_text()}") from None
        assert line, f"the server did not start:\n{log.read_text()}"
        if match := re.search(r" on (http://[0-9.]+:[0-9]+)", line):
            # keep reading its stdout, so a full pipe never blocks it
            asyncio.get_running_loop().create_task(_drain(proc.stdout))
            return Served(proc, match.group(1), log)


async def _drain(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await stream.read(65536):
            pass


async def stop(served: Served, timeout: float = 20.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; the exit code."""
    proc = served.proc
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            kill(served)
            await proc.wait()
    return proc.returncode


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def kill(served: Served) -> None:
    """SIGKILL the server and everything it started (its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def established(pid: int, port: int) -> int:
    """TCP connections process `pid` holds open on its local `port`, established."""
    return _sockets(pid, port, "01")


def listening(pid: int, port: int) -> bool:
    """Whether process `pid` listens on `port` (its own socket, as a worker with
    SO_REUSEPORT has)."""
    return _sockets(pid, port, "0A") > 0


def _sockets(pid: int, port: int, state: str) -> int:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == state and fields[9] in inodes:
            count += 1
    return count
