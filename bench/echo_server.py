"""A bare Tornado WebSocket echo server: the yardstick of bench/bench_server.py.

    python bench/echo_server.py --port 8765

Every text frame comes back as it came, with the same Tornado settings the game server
uses (no compression, no pings in the way), so the difference between the two is what
the game server does per frame: auth was done at the upgrade, then parsing, the rules,
the store round trip, the answer and the push.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def get_compression_options(self) -> dict | None:
        return None

    def open(self) -> None:
        self.set_nodelay(True)  # as the game server does

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


async def main(host: str, port: int) -> None:
    app = tornado.web.Application([(r"/ws", Echo)], websocket_ping_interval=0)
    app.listen(port, host)
    print(f"echo server on ws://{host}:{port}/ws", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
