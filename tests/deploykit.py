"""The production layout of deploy/, run for real on loopback: nginx (Debian's) in front of
`rulesc serve` processes on a Redis Cluster. Used by the deploy and fault tests.

nginx gets the config rendered from deploy/nginx/rulesc.conf.template, inside a main
config of the test's own (its pid file, logs and temp files in a temporary directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .clusterkit import free_ports
from .prockit import Served, kill, serve, stop
from .systemkit import find, need

ROOT = Path(__file__).resolve().parent.parent
SECRET = "deploy-test-secret"
ADMIN = "deploy-test-admin"


def render_nginx(listen: str, servers: list[str]) -> str:
    spec = importlib.util.spec_from_file_location("render_nginx", ROOT / "deploy/render_nginx.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(listen, servers)


def nginx_binary() -> str:
    need("nginx")
    path = find("nginx")
    assert path is not None
    return path


MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/rulesc.conf;
}}
"""


class Nginx:
    def __init__(self, directory: Path, servers: list[str]) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_ports(1)[0]
        self.servers = servers
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        binary = nginx_binary()
        (self.dir / "rulesc.conf").write_text(render_nginx(f"127.0.0.1:{self.port}", self.servers))
        user = "user root;" if os.geteuid() == 0 else ""  # workers may read our temp dir
        conf = self.dir / "nginx.conf"
        conf.write_text(MAIN_CONF.format(dir=self.dir, user=user))
        args = [binary, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            assert self._proc.poll() is None, (self.dir / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen in time"
            time.sleep(0.02)
        return self

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Layout:
    """Server processes on fixed loopback ports, and nginx in front of them."""

    tmp: Path
    redis_url: str
    game: Path
    extra: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    procs: list[Served | None] = field(default_factory=list)
    nginx: Nginx | None = None

    async def start(self, processes: int = 2) -> Layout:
        self.ports = free_ports(processes)
        self.procs = [None] * processes
        try:
            started = await asyncio.gather(
                *(self.start_process(i) for i in range(processes)), return_exceptions=True
            )
            for result in started:  # every start has ended: close() sees all that run
                if isinstance(result, BaseException):
                    raise result
            self.nginx = Nginx(self.tmp / "nginx", [f"127.0.0.1:{p}" for p in self.ports])
            self.nginx.start()
        except BaseException:
            await self.close()  # nothing may outlive a layout that failed to start
            raise
        return self

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    def direct(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    async def start_process(self, i: int) -> Served:
        args = [
            str(self.game),
            "--redis",
            self.redis_url,
            "--production",
            "--secret",
            SECRET,
            "--admin-token",
            ADMIN,
            "--trust-proxy",
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(self.tmp / f"data{i}"),
            *self.extra,
        ]
        served = await serve(args, self.tmp / f"rulesc{i}.log", port=self.ports[i])
        self.procs[i] = served
        return served

    def kill_process(self, i: int) -> None:
        served = self.procs[i]
        assert served is not None
        kill(served)  # SIGKILL: no shutdown work, sockets reset by the kernel
        self.procs[i] = None

    def logs(self) -> str:
        out = []
        for path in sorted(self.tmp.glob("rulesc*.log")):
            out.append(f"--- {path.name}\n{path.read_text()[-3000:]}")
        if self.nginx is not None:
            out.append(f"--- nginx\n{self.nginx.errors()[-3000:]}")
        return "\n".join(out)

    async def close(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for served in self.procs:
            if served is not None:
                with contextlib.suppress(Exception):
                    await stop(served, timeout=10)


def count_metric(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total
