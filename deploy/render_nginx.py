"""Render deploy/nginx/rulesc.conf.template for a set of server processes.

    python deploy/render_nginx.py --listen 80 rulesc1:8000 rulesc2:8000 rulesc3:8000

prints the nginx config (http context). deploy/nginx/rulesc.compose.conf is this for the
compose file's layout (tests/test_deploy_nginx.py checks it is current); the deploy test
renders it for processes on loopback ports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "rulesc.conf.template"
MAX_FAILS = 2  # failed attempts ...
FAIL_TIMEOUT = "5s"  # ... within this leave a process out for this long


def render(listen: str, servers: list[str]) -> str:
    if not servers:
        raise ValueError("give at least one server (host:port)")
    lines = "\n".join(
        f"    server {s} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT};" for s in servers
    )
    return TEMPLATE.read_text().replace("@LISTEN@", listen).replace("@SERVERS@", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="80", help="nginx's listen argument")
    parser.add_argument("servers", nargs="+", help="host:port of each server process")
    args = parser.parse_args()
    print(render(args.listen, args.servers), end="")


if __name__ == "__main__":
    main()
