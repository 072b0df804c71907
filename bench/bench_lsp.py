"""`rulesc lsp`: a keystroke's change to diagnostics published (issue 17). Not a test.

    python bench/bench_lsp.py            # a 1,000-action game, 40 keystrokes of each kind
    python bench/bench_lsp.py --actions 250 --keys 10

The server runs as editors run it (`rulesc lsp` over stdio, debounce 0 so the figure is
the server's work, not its wait); a minimal JSON-RPC client here sends didChange with the
whole text and times until publishDiagnostics arrives for the file. Two kinds of keystroke
in the middle of the 6,800-line actions file: a character typed into a name (the action
gets an error, then loses it: alternately) and a newline (every later declaration moves
down a line). Wall time and the server's CPU time (user + system, from /proc: counted in
clock ticks of 10 ms, so its mean), median and p95, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_game import write_game  # noqa: E402


class Client:
    """JSON-RPC over the server's stdin/stdout with Content-Length framing."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0

    def send(self, method: str, params: dict, *, request: bool = False) -> int | None:
        message: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return message.get("id")

    def read(self) -> dict:
        assert self.proc.stdout is not None
        length = 0
        while (line := self.proc.stdout.readline().strip()) != b"":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.proc.stdout.read(length))

    def wait_for(self, want) -> dict:
        while not want(message := self.read()):
            pass
        return message

    def close(self) -> None:
        shutdown = self.send("shutdown", {}, request=True)
        self.wait_for(lambda m: m.get("id") == shutdown)
        self.send("exit", {})
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def rss_mb(pid: int) -> float:
    """The server's resident memory (Linux), to see that the caches do not grow."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_ms(pid: int) -> float:
    """The server's CPU time so far (user + system, Linux): the work a keystroke costs it,
    apart from waiting for a core on a loaded machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lsp-") as tmp:
        game = write_game(args.actions, Path(tmp) / "game")
        path = (game / "actions.rules").resolve()
        uri = path.as_uri()
        text = path.read_text()
        client = Client([sys.executable, "-m", "rulesc.cli.main", "lsp", "--debounce-ms", "0"])
        init = client.send(
            "initialize", {"processId": None, "rootUri": None, "capabilities": {}}, request=True
        )
        client.wait_for(lambda m: m.get("id") == init)
        client.send("initialized", {})

        def published(m: dict) -> bool:
            return m.get("method") == "textDocument/publishDiagnostics" and (
                m["params"]["uri"] == uri
            )

        start = time.perf_counter()
        doc = {"uri": uri, "languageId": "rules", "version": 1, "text": text}
        client.send("textDocument/didOpen", {"textDocument": doc})
        client.wait_for(published)
        print(
            f"{args.actions} actions, {text.count(chr(10))} lines: open -> diagnostics "
            f"{(time.perf_counter() - start) * 1000:.0f} ms (cold: every declaration parsed)"
        )
        middle = text.index("\naction ", len(text) // 2) + len("\naction ")
        version = 1
        for kind in ("character", "newline"):
            times, cpu = [], []
            for i in range(args.keys):
                if kind == "character":
                    edited = text if i % 2 else text[:middle] + "x" + text[middle:]
                else:
                    edited = text[: middle - 8] + "\n" * ((i % 2) + 1) + text[middle - 8 :]
                version += 1
                change = {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": edited}],
                }
                start, start_cpu = time.perf_counter(), cpu_ms(client.proc.pid)
                client.send("textDocument/didChange", change)
                client.wait_for(published)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append(cpu_ms(client.proc.pid) - start_cpu)
            print(
                f"a {kind} typed: median {statistics.median(times):.0f} ms, "
                f"p95 {percentile(times, 0.95):.0f} ms ({len(times)} keystrokes); server CPU "
                f"mean {statistics.mean(cpu):.0f} ms, p95 {percentile(cpu, 0.95):.0f} ms; "
                f"server RSS {rss_mb(client.proc.pid):.0f} MB"
            )
        client.close()


if __name__ == "__main__":
    main()
