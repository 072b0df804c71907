"""A real PostgreSQL server for the history sink's tests: its own data dir (initdb) on a
free port, started and stopped with pg_ctl. PostgreSQL refuses to run as root: as root it
runs as the `postgres` user (Debian's package makes it), in a folder that user owns."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .systemkit import find

USER = "postgres"


class PostgresServer:
    def __init__(self, port: int) -> None:
        self.port = port
        # not under pytest's tmp dir: its parent is private to root, and the server runs
        # as another user
        self.dir = Path(tempfile.mkdtemp(prefix="rulesc-pg-"))
        self.data = self.dir / "data"
        self._as_user = os.geteuid() == 0
        if self._as_user:
            shutil.chown(self.dir, USER, USER)

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [*(["runuser", "-u", USER, "--"] if self._as_user else []), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run(
            find("initdb") or "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
        )

    def start(self) -> None:
        """Start (again); return once it takes connections."""
        if self.running:
            return
        self._run(
            find("pg_ctl") or "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "postgres.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        """Stop it: `fast` (clients cut off) or `immediate` (a crash: no shutdown work)."""
        if self.running:
            self._run(find("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
