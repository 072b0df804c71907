// Node 18 (Debian 12's nodejs) and Node 20 have no global WebSocket without a flag that
// Node 18 does not know; Node 22 has one. The tests then use the `ws` package, which the
// client takes like a browser's WebSocket (the client itself needs neither: it is given
// `WebSocket` in its options or finds the global one).
if (typeof globalThis.WebSocket !== "function") {
  const { WebSocket } = await import("ws");
  globalThis.WebSocket = WebSocket;
}
