"""The private Tornado and redis-py names the runtime relies on, checked on the installed
versions: an upgrade that moves or changes one fails here, with a message naming it and
the function of runtime/tornado_private.py or runtime/redis_private.py that uses it.

Only those two modules touch a `_`-name of another library's object; a check of the
runtime's source keeps it so, and another that every name they touch is checked here.
Raise the upper bounds on tornado and redis in pyproject.toml only once this file and the
server tests pass on the new major.

The objects are real: a Tornado server on a loopback socket, with a plain request and a
WebSocket to it, and a connection to the session's redis-server."""

from __future__ import annotations

import ast
import asyncio
import inspect
import socket
from collections.abc import AsyncIterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import tornado
import tornado.http1connection
import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket
from redis.exceptions import NoScriptError

from rulesc.runtime import redis_private, tornado_private

ROOT = Path(__file__).resolve().parent.parent
ISOLATED = {"tornado_private.py", "redis_private.py"}


# -- what each kind of name must be ------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """An instance attribute holding one of `types` (None is a type here)."""

    types: tuple[type, ...]

    def problem(self, owner: Any, name: str) -> str | None:
        if not hasattr(owner, name):
            return "is gone"
        value = getattr(owner, name)
        if not isinstance(value, self.types):
            return f"holds a {type(value).__name__}, not {' or '.join(_names(self.types))}"
        return None


@dataclass(frozen=True)
class Method:
    """A method taking `params` (after self); `coroutine`: an `async def`."""

    params: tuple[str, ...]
    coroutine: bool = False

    def problem(self, owner: Any, name: str) -> str | None:
        method = getattr(owner, name, None)
        if not callable(method):
            return "is gone" if method is None else "is no longer a method"
        params = tuple(p for p in inspect.signature(method).parameters if p != "self")
        if params != self.params:
            return f"takes ({', '.join(params)}), not ({', '.join(self.params)})"
        if inspect.iscoroutinefunction(method) != self.coroutine:
            return "is async no longer" if self.coroutine else "is now async"
        return None


def _names(types: tuple[type, ...]) -> list[str]:
    return ["None" if t is type(None) else t.__name__ for t in types]


@dataclass(frozen=True)
class Field:
    library: str  # "tornado" or "redis"
    owner: str  # the class, as the message names it
    name: str
    kind: Attribute | Method
    used_by: str  # the function of the private module that relies on it


NONE = type(None)
TORNADO_FIELDS = [
    Field("tornado", "RequestHandler", "_finished", Attribute((bool,)), "handler_finished"),
    Field("tornado", "RequestHandler", "_reason", Attribute((str,)), "handler_reason"),
    Field(
        "tornado",
        "HTTP1Connection",
        "_read_chunked_body",
        Method(("delegate",), True),
        "chunked_body_reader, replace_chunked_body_reader",
    ),
    Field("tornado", "TCPServer", "_sockets", Attribute((dict,)), "add_listening_socket"),
    Field("tornado", "TCPServer", "_handlers", Attribute((dict,)), "add_listening_socket"),
    Field(
        "tornado", "WebSocketProtocol13", "_compressor", Attribute((NONE,)), "uncompressed_stream"
    ),
    Field(
        "tornado",
        "WebSocketProtocol13",
        "_read_bytes",
        Method(("n",), True),
        "read_frames_from_buffer",
    ),
    Field(
        "tornado",
        "WebSocketProtocol13",
        "_wire_bytes_in",
        Attribute((int,)),
        "_buffered_read_bytes",
    ),
    Field("tornado", "IOStream", "_write_buffer", Attribute((Sized,)), "unsent_bytes, send_now"),
    Field("tornado", "IOStream", "_read_buffer_size", Attribute((int,)), "_buffered_read_bytes"),
    Field(
        "tornado",
        "IOStream",
        "_read_future",
        Attribute((NONE, asyncio.Future)),
        "_buffered_read_bytes",
    ),
    Field("tornado", "IOStream", "_consume", Method(("loc",)), "_buffered_read_bytes"),
]
REDIS_FIELDS = [
    Field(
        "redis", "Connection", "_reader", Attribute((asyncio.StreamReader,)), "connection_stream"
    ),
    Field("redis", "Connection", "_parser", Attribute((object,)), "error_reply_mapper"),
    Field("redis", "Connection", "_host_error", Method(()), "host_error"),
]


def check(field: Field, owner: Any) -> None:
    problem = field.kind.problem(owner, field.name)
    version = tornado.version if field.library == "tornado" else redis.__version__
    module = f"runtime/{field.library}_private.py"
    assert problem is None, (
        f"{field.library} {version}: {field.owner}.{field.name} {problem}; {module} "
        f"({field.used_by}) relies on it. Adapt that module before raising the {field.library} "
        f"bound in pyproject.toml."
    )


# -- Tornado: a server with a plain request and a WebSocket ------------------------------


@dataclass
class LiveTornado:
    """Tornado's objects, while their connections are open."""

    server: tornado.httpserver.HTTPServer
    handler: tornado.web.RequestHandler  # a plain request's, before it answered
    connection: tornado.http1connection.HTTP1Connection
    protocol: tornado.websocket.WebSocketProtocol13
    stream: tornado.iostream.IOStream  # the WebSocket's
    seen_in_get: tuple[bool, str]  # handler_finished and handler_reason, before it answered

    def owner(self, field: Field) -> Any:
        return {
            "RequestHandler": self.handler,
            "HTTP1Connection": self.connection,
            "TCPServer": self.server,
            "WebSocketProtocol13": self.protocol,
            "IOStream": self.stream,
        }[field.owner]


@pytest.fixture
async def live_tornado() -> AsyncIterator[LiveTornado]:
    seen: dict[str, Any] = {}
    opened = asyncio.Event()

    class Plain(tornado.web.RequestHandler):
        def get(self) -> None:
            seen["handler"], seen["connection"] = self, self.request.connection
            seen["finished_before"] = tornado_private.handler_finished(self)
            seen["reason"] = tornado_private.handler_reason(self)
            self.finish("ok")

    class Socket(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            seen["protocol"] = self.ws_connection
            opened.set()

    app = tornado.web.Application([(r"/plain", Plain), (r"/ws", Socket)])
    server = tornado.httpserver.HTTPServer(app)
    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    server.add_sockets([sock])
    port = sock.getsockname()[1]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    ws = None
    try:
        await client.fetch(f"http://127.0.0.1:{port}/plain")
        ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
        await opened.wait()
        protocol = seen["protocol"]
        yield LiveTornado(
            server,
            seen["handler"],
            seen["connection"],
            protocol,
            protocol.stream,
            (seen["finished_before"], seen["reason"]),
        )
    finally:
        if ws is not None:
            ws.close()
        client.close()
        server.stop()
        await server.close_all_connections()


@pytest.mark.parametrize("field", TORNADO_FIELDS, ids=lambda f: f"{f.owner}.{f.name}")
async def test_tornado_private_name_is_there(live_tornado: LiveTornado, field: Field) -> None:
    check(field, live_tornado.owner(field))


async def test_tornado_private_accessors_read_a_live_connection(live_tornado: LiveTornado) -> None:
    live = live_tornado
    assert live.seen_in_get == (False, "OK")
    assert tornado_private.handler_finished(live.handler) is True
    assert tornado_private.uncompressed_stream(live.protocol) is live.stream
    assert tornado_private.unsent_bytes(live.protocol) == 0
    assert tornado_private.unsent_bytes(None) == 0
    reader = tornado_private.chunked_body_reader(live.connection)
    assert reader.__self__ is live.connection


def test_a_listening_socket_added_our_way_is_stopped_by_tornado() -> None:
    """add_listening_socket registers as TCPServer.add_sockets does: stop() calls our
    `remove` and closes the socket."""
    server = tornado.httpserver.HTTPServer(tornado.web.Application([]))
    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    removed = []
    tornado_private.add_listening_socket(server, sock, lambda: removed.append(True))
    server.stop()
    assert removed == [True]
    assert sock.fileno() == -1  # closed


# -- redis-py: a connection to the session's redis-server --------------------------------


@pytest.fixture
async def redis_conn(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(redis_url)
    conn = client.connection_pool.make_connection()
    try:
        await conn.connect()
        yield conn
    finally:
        await conn.disconnect()
        await client.aclose()


@pytest.mark.parametrize("field", REDIS_FIELDS, ids=lambda f: f"{f.owner}.{f.name}")
async def test_redis_private_name_is_there(redis_conn: Any, field: Field) -> None:
    check(field, redis_conn)


async def test_redis_parser_maps_error_replies(redis_conn: Any) -> None:
    """`_parser.parse_error` gives the exception redis-py raises for an error reply."""
    parse_error = getattr(redis_conn._parser, "parse_error", None)
    assert callable(parse_error), (
        f"redis {redis.__version__}: the connection's `_parser` has no parse_error; "
        f"runtime/redis_private.py (error_reply_mapper) relies on it"
    )
    assert isinstance(
        redis_private.error_reply_mapper(redis_conn)("NOSCRIPT no such"), NoScriptError
    )


async def test_redis_private_accessors_read_a_live_connection(
    redis_conn: Any, redis_url: str
) -> None:
    assert redis_private.connection_stream(redis_conn) is redis_conn._reader
    assert redis_url.split(":")[2].split("/")[0] in redis_private.host_error(redis_conn)


# -- only the two modules touch other libraries' private names ---------------------------


def _defined(tree: ast.AST) -> set[str]:
    """Names a module defines: functions, classes, variables, arguments, and attributes it
    sets on self or cls."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and _is_self(node.value)
        ):
            names.add(node.attr)
    return names


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _private_uses(tree: ast.AST) -> list[tuple[int, ast.expr, str]]:
    """(line, receiver, name) of every `x._name` and getattr(x, "_name", ...)."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            uses.append((node.lineno, node.value, node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            uses.append((node.lineno, node.args[0], node.args[1].value))
    return uses


NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}  # public, despite the `_`


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in NAMEDTUPLE_API


def test_no_other_module_touches_a_third_party_private_name() -> None:
    """A `_`-name on another object must be one its module defines, and one on self one
    its package defines (a Tornado handler's `_finished` is Tornado's, not ours): anything
    else is another library's, and goes through tornado_private.py or redis_private.py."""
    runtime = [p for p in (ROOT / "runtime").glob("*.py") if p.name not in ISOLATED]
    runtime_trees = [ast.parse(p.read_text(), str(p)) for p in runtime]
    runtime_names = set().union(*map(_defined, runtime_trees))
    client = ROOT / "rulesc" / "client.py"
    client_tree = ast.parse(client.read_text(), str(client))
    found = []
    for path, tree, package_names in [
        *((p, t, runtime_names) for p, t in zip(runtime, runtime_trees, strict=True)),
        (client, client_tree, _defined(client_tree)),
    ]:
        local = _defined(tree)
        for line, receiver, name in _private_uses(tree):
            if name not in (package_names if _is_self(receiver) else local):
                found.append(f"{path.relative_to(ROOT)}:{line}: {ast.unparse(receiver)}.{name}")
    assert not found, (
        "private names of other libraries, outside the private modules:\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    ("module", "fields"),
    [
        ("tornado_private.py", TORNADO_FIELDS),
        ("redis_private.py", REDIS_FIELDS),
    ],
)
def test_every_private_name_used_is_checked_here(module: str, fields: list[Field]) -> None:
    tree = ast.parse((ROOT / "runtime" / module).read_text())
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    used = {name for _, _, name in _private_uses(tree)} - own
    checked = {f.name for f in fields}
    assert used <= checked, f"{module} uses {sorted(used - checked)}: add each to this file"
