"""Many rule swaps on a live server do not pile up: a refused pack leaves sys.modules and
the data directory at once, a replaced one once nothing holds it, and only the last
`keep_packs` old pack folders per game stay, for a rollback (runtime/packdir.py)."""

from __future__ import annotations

import asyncio
import gc
import shutil
import sys
import threading
import time
from pathlib import Path

from rulesc.cli.packbuild import compile_pack
from rulesc.runtime import packdir
from rulesc.runtime.pack import MODULE_PREFIX

from .prockit import serve, stop
from .serverkit import ADMIN, HARVEST, Kit, Running, a, act, call, session, state

STRAWBERRY = "strawberry,25,30m,10m,4,14,5,3\n"


def copy_of_harvest(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(HARVEST, folder, ignore=shutil.ignore_patterns("tests", "bots"))
    return folder


def edit(folder: Path, n: int, *, strawberries: bool = True, price: int | None = None) -> None:
    """New rules text (a new pack version) each time: a comment line numbered `n`; without
    the strawberry row (an unsafe swap), or with wheat's seed price changed (a safe one)."""
    rules = (HARVEST / "harvest.rules").read_text()
    (folder / "harvest.rules").write_text(f"{rules}\n# swap {n}\n")
    csv = (HARVEST / "crops.csv").read_text()
    if not strawberries:
        csv = csv.replace(STRAWBERRY, "")
    if price is not None:
        lines = csv.splitlines(keepends=True)
        lines = [
            f"wheat,{price}," + line.split(",", 2)[2] if line.startswith("wheat,") else line
            for line in lines
        ]
        csv = "".join(lines)
    (folder / "crops.csv").write_text(csv)


def pack_modules() -> set[str]:
    gc.collect()  # a replaced pack goes when it is collected
    return {name for name in sys.modules if name.startswith(MODULE_PREFIX)}


async def metric(url: str, name: str) -> float:
    r = await call(f"{url}/metrics")
    text = r.body.decode() if isinstance(r.body, bytes) else str(r.body)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def swap(run: Running | str, folder: Path) -> tuple[int, dict]:
    url = run if isinstance(run, str) else run.url
    r = await call(f"{url}/admin/harvest/rules", "POST", {"path": str(folder)}, token=ADMIN)
    return r.status, r.body


async def test_swaps_accepted_and_refused_keep_modules_and_folders_bounded_while_players_play(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start(keep_packs=2)
    data = Path(run.server.config.data_dir)
    good, unsafe, broken = (copy_of_harvest(tmp_path, n) for n in ("good", "unsafe", "broken"))
    before = pack_modules()
    tokens = [(await session(run, f"device-swapper-{i}"))[1] for i in range(3)]
    stop_playing = asyncio.Event()
    played: list[int] = []

    async def keep_playing(token: str) -> None:
        n = 0
        while not stop_playing.is_set() or n < 3:
            n += 1
            r = await act(run, token, a(f"b{n}", "buy_seed", kind="wheat", qty=1))
            assert r.status == 200, r.body
            result = r.body["results"][0]
            assert result["status"] == "ok" or result["error"]["code"] == "insufficient", r.body
            await asyncio.sleep(0)
        played.append(n)

    players = [asyncio.ensure_future(keep_playing(t)) for t in tokens]
    answers = []
    for n in range(1, 19):
        if n % 3 == 1:
            edit(good, n, price=10 + n % 5)
            answers.append(await swap(run, good))
        elif n % 3 == 2:
            edit(unsafe, n, strawberries=False)
            answers.append(await swap(run, unsafe))
        else:  # rules that do not check: nothing is built
            edit(broken, n)
            (broken / "harvest.rules").write_text("resource !!\n")
            answers.append(await swap(run, broken))
    stop_playing.set()
    await asyncio.gather(*players)

    assert [code for code, _ in answers] == [200, 409, 422] * 6, answers
    assert all(n >= 3 for n in played)
    # one pack module more than before the swaps: the one serving now
    serving = run.server.games.get("harvest")
    assert serving is not None
    now = pack_modules()
    assert now - before == {serving.pack.module.__name__}, now - before
    assert await metric(run.url, "rulesc_packs_loaded") == len(now)
    # the serving pack's folder and the two served before it; no refused build
    kept = packdir.folders(data, "harvest")
    versions = [body["version"] for code, body in answers if code == 200]
    assert [p.name.rsplit("-", 1)[1] for p in kept] == sorted(versions[-3:])
    assert await metric(run.url, "rulesc_pack_folders") == 3
    assert not (packdir.packs_dir(data) / packdir.REFUSED_DIR).exists()
    leftovers = [p.name for p in packdir.packs_dir(data).iterdir() if not p.name.startswith(".")]
    assert sorted(leftovers) == sorted(p.name for p in kept)
    # the players kept what they bought through the swaps
    for token in tokens:
        assert (await state(run, token))["state"]["seed"]["wheat"] >= 3


async def test_a_replaced_pack_stays_loaded_while_a_request_holds_it(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start()
    folder = copy_of_harvest(tmp_path, "rules")
    edit(folder, 1, price=11)
    assert (await swap(run, folder))[0] == 200
    in_flight = run.server.games.get("harvest")  # as a handler holds it to its end
    assert in_flight is not None
    name = in_flight.pack.module.__name__
    edit(folder, 2, price=12)
    assert (await swap(run, folder))[0] == 200
    assert name in pack_modules()  # still in use
    assert in_flight.pack.actions["buy_seed"] is not None
    _, token = await session(run)
    r = await act(run, token, a("b1", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["changes"]["coins"][1] == 200 - 12  # the new pack answers
    del in_flight
    assert name not in pack_modules()  # released once nothing holds it


async def test_a_rollback_to_a_kept_pack_works_and_older_packs_are_gone(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start(keep_packs=1)
    data = Path(run.server.config.data_dir)
    folder = copy_of_harvest(tmp_path, "rules")
    versions = []
    for n, price in enumerate((11, 12, 13), 1):
        edit(folder, n, price=price)
        code, body = await swap(run, folder)
        assert code == 200, body
        versions.append(body["version"])
    packs = packdir.packs_dir(data)
    first, kept, serving = (packs / f"harvest-{v}" for v in versions)
    assert not first.exists()  # past keep_packs
    assert kept.is_dir() and serving.is_dir()
    code, body = await swap(run, first)
    assert code == 422 and body["error"]["code"] == "pack_invalid"
    # the rollback: the kept folder's path
    code, body = await swap(run, kept)
    assert code == 200 and body["version"] == versions[1] and body["previous"] == versions[2]
    _, token = await session(run)
    r = await act(run, token, a("b1", "buy_seed", kind="wheat", qty=1))
    assert r.body["results"][0]["changes"]["coins"][1] == 200 - 12
    # both stay: the one serving, and the one served before it
    assert kept.is_dir() and serving.is_dir()
    # a refused swap to a kept pack leaves it there (it is not a build of that swap)
    edit(folder, 9, strawberries=False)
    assert (await swap(run, folder))[0] == 409
    assert kept.is_dir() and serving.is_dir()
    assert len(packdir.folders(data, "harvest")) == 2


async def test_a_pack_that_does_not_import_is_moved_aside_and_named(
    sqlite_kit: Kit, tmp_path: Path
) -> None:
    run = await sqlite_kit.start()
    data = Path(run.server.config.data_dir)

    def faulty_builder(source: Path, data_dir: Path) -> Path:
        out = compile_pack(source, data_dir)
        module = out / "rules.py"
        if not module.exists():
            [module] = [p for p in out.iterdir() if p.suffix == ".py"]
        module.write_text(module.read_text() + "\nraise RuntimeError('a fault on import')\n")
        return out

    run.server.builder = faulty_builder
    before = pack_modules()
    folder = copy_of_harvest(tmp_path, "rules")
    edit(folder, 1, price=11)
    code, body = await swap(run, folder)
    assert code == 422 and body["error"]["code"] == "pack_invalid", body
    message = body["error"]["message"]
    assert "a fault on import" in message and packdir.REFUSED_DIR in message
    [aside] = (packdir.packs_dir(data) / packdir.REFUSED_DIR).iterdir()
    assert aside.name in message and (aside / "manifest.json").is_file()
    assert pack_modules() == before
    assert [p.name for p in packdir.folders(data, "harvest")] == []  # no build left in place


def test_no_folder_is_deleted_while_a_pack_is_being_built_or_imported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = compile_pack(HARVEST, data)
    time.sleep(0.01)
    folder = copy_of_harvest(tmp_path, "rules")
    edit(folder, 1, price=11)
    new = compile_pack(folder, data)
    deleted: list[Path] = []
    with packdir.reading(data):  # another process loading `old`
        pruner = threading.Thread(
            target=lambda: deleted.extend(packdir.prune(data, "harvest", 0, [new]))
        )
        pruner.start()
        pruner.join(0.5)
        assert pruner.is_alive() and old.is_dir()  # waits for the loader
    pruner.join(10)
    assert deleted == [old] and not old.exists() and new.is_dir()


async def test_workers_sharing_a_data_dir_swap_and_prune_it_without_breaking_each_other(
    redis_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    served = await serve(
        [
            str(HARVEST),
            "--redis",
            redis_url,
            "--workers",
            "2",
            "--keep-packs",
            "2",
            "--production",
            "--secret",
            "s",
            "--admin-token",
            ADMIN,
            "--data-dir",
            str(data),
        ],
        tmp_path / "serve.log",
    )
    try:
        r = await call(f"{served.url}/v1/harvest/session", "POST", {"device_id": "device-workers"})
        token = r.body["token"]
        sources = [copy_of_harvest(tmp_path, f"rules-{i}") for i in range(4)]
        answers = []
        for n in range(1, 7):  # four swaps at once each time: both workers build and prune
            for i, src in enumerate(sources):
                if i == 3:
                    edit(src, 10 * n + i, strawberries=False)
                else:
                    edit(src, 10 * n + i, price=10 + i)
            answers += await asyncio.gather(*(swap(served.url, src) for src in sources))
            r = await call(
                f"{served.url}/v1/harvest/actions",
                "POST",
                {
                    "actions": [
                        {"id": f"b{n}", "name": "buy_seed", "params": {"kind": "wheat", "qty": 1}}
                    ]
                },
                token=token,
            )
            assert r.status == 200 and r.body["results"][0]["status"] == "ok", r.body
        codes = sorted(code for code, _ in answers)
        assert codes.count(200) == 18 and codes.count(409) == 6, answers
        # each worker: the pack it started on (kept for its restarts) and the one it serves,
        # once the collection after its last swap (COLLECT_AFTER_SWAP) has freed the packs
        # replaced; never one per swap. Six reads in a row: both workers answer some.
        deadline = time.monotonic() + 30
        loaded: list[float] = []
        while len(loaded) < 6 or max(loaded[-6:]) > 2:
            assert time.monotonic() < deadline, loaded
            loaded.append(await metric(served.url, "rulesc_packs_loaded"))
            await asyncio.sleep(0.5)
        # the packs each worker serves now, and at most two served before, per worker
        assert len(packdir.folders(data, "harvest")) <= 2 + 2 * 2
        log = served.log.read_text()
        assert "Traceback" not in log, log
    finally:
        assert await stop(served) == 0
