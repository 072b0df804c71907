"""Memory and disk over many rule swaps on one live server. Not part of the test suite.

Run from the repository root:

    python bench/bench_swaps.py               # 200 swaps (~15 s on 2 cores)
    python bench/bench_swaps.py --swaps 60    # fewer

It serves the harvest game in this process (embedded SQLite store, a temporary data
directory, the serve command's builder) and swaps its rules over `POST /admin/harvest/rules`
again and again, one player acting between swaps: every other swap is accepted (a comment
changed: a new pack version), the others refused (`unsafe_swap`: the strawberry row
removed, also with a new version each time). Every `--every` swaps it prints the process's
RSS (VmRSS from /proc/self/status, after a full gc), the pack modules in sys.modules and
the pack folders in DATA_DIR/packs. What a server that swaps a few times a day for months
accumulates is the slope of those columns.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packs
from rulesc.runtime.app import Server
from rulesc.runtime.auth import Auth, GuestTokens
from rulesc.runtime.config import ServerConfig
from rulesc.runtime.store_sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
HARVEST = ROOT / "games" / "harvest"
ADMIN = "bench-admin-token"
STRAWBERRY = "strawberry,25,30m,10m,4,14,5,3\n"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pack_modules() -> int:
    return sum(1 for name in list(sys.modules) if name.startswith("rulesc_pack_"))


def pack_folders(data: Path) -> int:
    folder = data / "packs"
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


async def call(client: AsyncHTTPClient, url: str, body: dict, token: str | None) -> tuple:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = HTTPRequest(url, "POST", headers=headers, body=orjson.dumps(body), request_timeout=120)
    r = await client.fetch(req, raise_error=False)
    return r.code, orjson.loads(r.body) if r.body else {}


async def run(swaps: int, every: int) -> None:
    logging.getLogger("tornado.access").setLevel(logging.ERROR)  # the 409s are expected
    tmp = Path(tempfile.mkdtemp(prefix="bench-swaps-"))
    try:
        data = tmp / "data"
        ok_src, bad_src = tmp / "ok", tmp / "bad"
        for folder in (ok_src, bad_src):
            shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
        csv = bad_src / "crops.csv"
        csv.write_text(csv.read_text().replace(STRAWBERRY, ""))
        rules = (HARVEST / "harvest.rules").read_text()
        store = SqliteStore(tmp / "store.db")
        cfg = ServerConfig(data_dir=str(data))
        server = Server(
            store,
            Auth(GuestTokens("bench"), None, ADMIN),
            cfg,
            games=[packs.build(ok_src, data, compile_pack)],
            builder=compile_pack,
        )
        base = f"http://127.0.0.1:{server.listen(0)}"
        client = AsyncHTTPClient()
        code, body = await call(
            client, f"{base}/v1/harvest/session", {"device_id": "device-bench-1"}, None
        )
        assert code == 200, body
        token = body["token"]
        gc.collect()
        start = rss_kib()
        print(f"{'swaps':>6} {'RSS KiB':>9} {'growth':>8} {'modules':>8} {'folders':>8}")
        print(f"{0:>6} {start:>9} {0:>8} {pack_modules():>8} {pack_folders(data):>8}")
        answers: dict[int, int] = {}
        for n in range(1, swaps + 1):
            src = ok_src if n % 2 else bad_src
            (src / "harvest.rules").write_text(f"{rules}\n# swap {n}\n")
            code, body = await call(
                client, f"{base}/admin/harvest/rules", {"path": str(src)}, ADMIN
            )
            answers[code] = answers.get(code, 0) + 1
            act = {
                "actions": [
                    {"id": f"a{n}", "name": "buy_seed", "params": {"kind": "wheat", "qty": 1}}
                ]
            }
            code, body = await call(client, f"{base}/v1/harvest/actions", act, token)
            assert code == 200, body
            if n % every == 0 or n == swaps:
                gc.collect()
                rss = rss_kib()
                print(
                    f"{n:>6} {rss:>9} {rss - start:>8} {pack_modules():>8} {pack_folders(data):>8}",
                    flush=True,
                )
        print(f"answers: {dict(sorted(answers.items()))}")
        client.close()
        await server.close()
        await store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swaps", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.swaps, args.every))


if __name__ == "__main__":
    main()
