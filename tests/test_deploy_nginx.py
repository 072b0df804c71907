"""The production layout of deploy/, for real on this machine: nginx from Debian's
packages (with the config rendered from deploy/nginx/rulesc.conf.template), two
`rulesc serve` processes, and the three-master Redis Cluster the test session made."""

from __future__ import annotations

from pathlib import Path

import pytest

from .deploykit import ROOT, Layout, count_metric, render_nginx
from .serverkit import HARVEST, Socket, call

PLAYERS = 12  # all on one of two processes by chance: 1 in 2,000


def test_the_compose_nginx_config_is_rendered_from_the_template() -> None:
    rendered = render_nginx("80", ["rulesc1:8000", "rulesc2:8000", "rulesc3:8000"])
    assert (ROOT / "deploy/nginx/rulesc.compose.conf").read_text() == rendered, (
        "deploy/nginx/rulesc.compose.conf is stale: python deploy/render_nginx.py --listen 80 "
        "rulesc1:8000 rulesc2:8000 rulesc3:8000 > deploy/nginx/rulesc.compose.conf"
    )


class _Via:
    def __init__(self, url: str) -> None:
        self.url, self.ws_url = url, url.replace("http", "ws", 1)


async def _state_counts(layout: Layout) -> list[float]:
    counts = []
    for i in range(len(layout.ports)):
        text = (await call(f"{layout.direct(i)}/metrics")).body.decode()
        counts.append(count_metric(text, "rulesc_request_seconds_count", route="state"))
    return counts


@pytest.mark.slow
async def test_nginx_routes_players_upgrades_websockets_and_skips_a_dead_process(
    cluster_url: str, tmp_path: Path
) -> None:
    layout = await Layout(tmp_path, cluster_url, HARVEST).start(2)
    via = _Via(layout.url)
    try:
        assert (await call(f"{via.url}/readyz")).status == 200
        players: list[tuple[str, str]] = []  # (device, token)
        served_by: list[int] = []
        for n in range(PLAYERS):
            device = f"device-deploy-{n:03}"
            r = await call(f"{via.url}/v1/harvest/session", "POST", {"device_id": device})
            first = r.body["token"]
            r = await call(f"{via.url}/v1/harvest/session", "POST", {"device_id": device})
            second = r.body["token"]  # the same player, another token (another expiry)
            assert second != first
            before = await _state_counts(layout)
            for token in (first, second, first, second):
                assert (await call(f"{via.url}/v1/harvest/state", token=token)).status == 200
            grew = [a - b for a, b in zip(await _state_counts(layout), before, strict=True)]
            assert sorted(grew) == [0, 4], grew  # every call of the player: one process
            served_by.append(grew.index(4))
            players.append((device, first))
        assert set(served_by) == {0, 1}, served_by  # and the players spread over both

        # the WebSocket upgrade goes through, to the player's process, and gets pushes
        _, token = players[0]
        sockets = [await Socket.open(via, token) for _ in range(2)]  # type: ignore[arg-type]
        home = served_by[0]
        text = (await call(f"{layout.direct(home)}/metrics")).body.decode()
        assert count_metric(text, "rulesc_open_connections") == 2
        r = await call(
            f"{via.url}/v1/harvest/actions",
            "POST",
            {"actions": [{"id": "d1", "name": "daily_gift", "params": {}}]},
            token=token,
        )
        assert r.status == 200 and r.body["results"][0]["status"] == "ok"
        for ws in sockets:
            assert (await ws.of_type("state"))["cause"]["action_id"] == "d1"
            await ws.close()

        # a process dies: nginx sends its players to the other one (an idempotent request
        # goes to the next upstream, then the dead one is left out for fail_timeout); no
        # request sees a 502
        layout.kill_process(home)
        for _, token in players:
            r = await call(f"{via.url}/v1/harvest/state", token=token)
            assert r.status == 200, (r.status, layout.logs())
        # nginx saw it fail (a reset kept-alive link, or a refused connect) and went on
        assert f"127.0.0.1:{layout.ports[home]}" in layout.nginx.errors()  # type: ignore[union-attr]

        # the client's address is nginx's $remote_addr: a header the client sends is
        # overwritten, so 21 bad tokens "from 21 addresses" come from one (burst 20)
        codes = [
            (
                await call(
                    f"{via.url}/v1/harvest/state",
                    token="g1.bad.token",
                    headers={"X-Real-Ip": f"10.0.0.{i}"},
                )
            ).status
            for i in range(21)
        ]
        assert codes == [401] * 20 + [429], codes
    finally:
        await layout.close()


def test_a_redis_password_never_reaches_the_logs() -> None:
    from rulesc.cli.serve import _without_password

    assert _without_password("redis://:hunter2@redis1:6379/0") == "redis://:***@redis1:6379/0"
    assert _without_password("rediss://app:pw@h:1/0?x=1") == "rediss://app:***@h:1/0?x=1"
    assert _without_password("redis://h:6379/0") == "redis://h:6379/0"
