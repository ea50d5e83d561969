// clients/js/lifeline.js in Node.js (a global WebSocket: Node 22, or 20 with
// --experimental-websocket), for tests/browser/test_node_client.py. Prints one
// JSON line per step; exits non-zero on a failure.
import { LifelineClient, backoffDelay } from "../../clients/js/lifeline.js";

const [url] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const fail = (m) => { say({ fail: m }); process.exit(1); };
setTimeout(() => fail("no end within 20 s"), 20000).unref();

// Bad arguments are refused with a message that says what was wrong.
for (const [args, needle] of [[["http://x/"], "ws:// or wss://"], [["ws://x/", { id: "bad id!" }], "id must be"]]) {
  try { new LifelineClient(...args); fail("accepted " + JSON.stringify(args)); } catch (e) {
    if (!(e instanceof TypeError) || !e.message.includes(needle)) fail("wrong error: " + e.message);
  }
}
// Full jitter: uniform below min(cap, base * 2^attempt).
if (backoffDelay(3, 100, 10000, () => 0.999) !== 799 || backoffDelay(20, 100, 10000, () => 0.5) !== 5000) {
  fail("backoffDelay is not full jitter");
}

const c = new LifelineClient(url, { id: "node-1", labels: { lang: "js" }, serverPings: false });
c.on("state", (s) => say({ state: s.state, reason: s.reason }));
c.on("data", (d) => {
  const text = new TextDecoder().decode(d);
  say({ data: text });
  if (text === "quit") c.close("asked to");
});
c.on("state", async (s) => {
  if (s.state !== "online") return;
  const list = await c.list();
  say({ listed: list.clients.map((x) => [x.id, x.transport]) });
  if (!c.send("hello from node")) fail("send refused while online");
});
c.on("state", (s) => { if (s.state === "closed") setTimeout(() => process.exit(0), 100); });
