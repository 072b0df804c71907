// A TCP proxy between a client and the server, to lose answers and cut links for real
// (the JavaScript twin of tests/serverkit.py's Proxy).
import net from "node:net";

export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    // the next `dropAnswers` times the server sends something, the link it goes over is cut
    // instead: the request got through (and was applied), its answer is lost
    this.dropAnswers = 0;
    this.down = false; // refuse new connections
    this.links = new Set();
    this.dropped = 0;
  }

  async start() {
    this.server = net.createServer((socket) => this._handle(socket));
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = this.server.address().port;
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  _handle(client) {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    const link = { client, upstream };
    this.links.add(link);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.links.delete(link);
    };
    client.on("data", (data) => upstream.write(data));
    upstream.on("data", (data) => {
      if (this.dropAnswers > 0) {
        this.dropAnswers -= 1;
        this.dropped += 1;
        end();
        return;
      }
      client.write(data);
    });
    for (const s of [client, upstream]) {
      s.on("close", end);
      s.on("error", end);
    }
  }

  /** Cut every open link. */
  cut() {
    for (const { client, upstream } of [...this.links]) {
      client.destroy();
      upstream.destroy();
    }
    this.links.clear();
  }

  async close() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
