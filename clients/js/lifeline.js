// lifeline's JavaScript client: one ES module, no dependencies, for browsers
// (and Node.js where a global WebSocket exists). It speaks docs/protocol.md,
// version 3, over WebSocket (section 11): each lifeline frame is one binary
// message.
//
//   import { LifelineClient } from "./lifeline.js";
//   const c = new LifelineClient("wss://example.com/lifeline", { id: "ann", labels: { page: "home" } });
//   c.on("state", (s) => console.log(s.state, s.reason));
//   c.on("presence", (e) => console.log(e.kind, e.id));  // after subscribe()
//   c.subscribe();
//
// Liveness: by default the server drives the heartbeat (HELLO flag
// SERVER_PINGS) and the page answers each PING from its message handler, so
// a background tab whose timers the browser throttles still answers in
// time. The client declares a silent server dead after the negotiated
// timeout and reconnects with full-jitter exponential backoff, at once when
// the page comes back online or visible.

const VERSION = 3;
const T = { hello: 1, welcome: 2, ping: 3, pong: 4, data: 5, bye: 6, error: 7, list: 8, listReply: 9, subscribe: 10, event: 11 };
const FLAG_SERVER_PINGS = 1;
const FLAG_OBSERVER = 2;
const SUB_SNAPSHOT = 1;
const SUB_RESUME = 2;
const KINDS = ["", "online", "offline", "takeover", "gap", "join", "leave"];
const REASONS = ["none", "bye", "closed", "reset", "timeout", "replaced", "kicked", "shutdown", "rejected", "protocol"];
const TRANSPORTS = ["tcp", "tls", "ws", "wss"];
const ERRORS = ["", "malformed", "too_large", "unknown_type", "handshake_required", "handshake_timeout",
  "unsupported_version", "rejected", "flood", "slow_consumer", "shutting_down", "too_many_connections", "unauthorized"];
const ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * @typedef {"connecting"|"online"|"offline"|"closed"} State
 * @typedef {{state: State, previous: State, reason: string, attempt: number, refused?: string}} StateChange
 * @typedef {{id: string, peer: string, transport: string, session: string, since: Date, lastSeen: Date,
 *            rttUs: number, intervalMs: number, timeoutMs: number, labels: Object<string,string>}} Entry
 * @typedef {{online: number, seq: number, instance: string, clients: Entry[]}} List
 * @typedef {{seq: number, kind: string, reason: string, at: Date, id: string, peer: string, instance: string,
 *            session: string, transport: string}} PresenceEvent
 * @typedef {{id?: string, labels?: Object<string,string>, token?: string, intervalMs?: number, timeoutMs?: number,
 *            serverPings?: boolean, observer?: boolean, backoffBaseMs?: number, backoffCapMs?: number,
 *            connectTimeoutMs?: number, WebSocket?: any, random?: () => number}} Options
 */

class Writer {
  constructor(type) { this.type = type; this.parts = []; this.size = 0; }
  u8(v) { return this.raw(Uint8Array.of(v)); }
  u16(v) { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v); return this.raw(b); }
  u32(v) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v); return this.raw(b); }
  u64(v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v)); return this.raw(b); }
  str16(s) { const b = utf8.encode(s); this.u16(b.length); return this.raw(b); }
  raw(b) { this.parts.push(b); this.size += b.length; return this; }
  frame() {
    const out = new Uint8Array(5 + this.size);
    new DataView(out.buffer).setUint32(0, this.size);
    out[4] = this.type;
    let at = 5;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

class Reader {
  constructor(bytes) { this.b = bytes; this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); this.at = 0; }
  need(n) { if (this.at + n > this.b.length) throw new Error("truncated frame"); const a = this.at; this.at += n; return a; }
  u8() { return this.v.getUint8(this.need(1)); }
  u16() { return this.v.getUint16(this.need(2)); }
  u32() { return this.v.getUint32(this.need(4)); }
  u64() { return this.v.getBigUint64(this.need(8)); }
  str16() { const n = this.u16(); const a = this.need(n); return fromUtf8.decode(this.b.subarray(a, a + n)); }
  labels() { const n = this.u16(); const out = {}; for (let i = 0; i < n; i++) { const k = this.str16(); out[k] = this.str16(); } return out; }
  end(what) { if (this.at !== this.b.length) throw new Error(`${what}: ${this.b.length - this.at} trailing bytes`); }
}

const hex64 = (v) => v.toString(16).padStart(16, "0");
const dateMs = (v) => new Date(Number(v));
const nowUs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));

/** Full jitter (AWS architecture blog): a uniform draw below the capped exponential. */
export function backoffDelay(attempt, baseMs, capMs, random = Math.random) {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

export class LifelineClient {
  /** @param {string} url ws:// or wss:// address of `lifeline serve --ws-listen` (with its --ws-path) @param {Options} options */
  constructor(url, options = {}) {
    if (!/^wss?:\/\//.test(url)) throw new TypeError(`lifeline: url must start with ws:// or wss://, not ${url}`);
    if (options.id !== undefined && options.id !== "" && !ID_RE.test(options.id)) {
      throw new TypeError(`lifeline: id must be 1..128 of [A-Za-z0-9._:@-], not ${JSON.stringify(options.id)}`);
    }
    this.url = url;
    this.opts = { labels: {}, intervalMs: 0, timeoutMs: 0, serverPings: true, observer: false, backoffBaseMs: 500,
      backoffCapMs: 30000, connectTimeoutMs: 10000, random: Math.random, ...options };
    this.WS = this.opts.WebSocket || globalThis.WebSocket;
    if (!this.WS) throw new TypeError("lifeline: no WebSocket here (pass options.WebSocket)");
    /** @type {State} */ this.state = "connecting";
    this.id = this.opts.id || "";
    this.session = "";
    this.rttUs = 0;
    this.heartbeat = { intervalMs: 0, timeoutMs: 0 };
    this.handlers = { state: new Set(), presence: new Set(), data: new Set(), list: new Set() };
    this.pendingLists = new Map();
    this.nextRequest = 1;
    this.stream = null; // {snapshot, instance, seq} once subscribe() was called
    this.attempt = 0;
    this.timers = {};
    this.onWake = () => { if (this.state === "offline" && (globalThis.document?.visibilityState ?? "visible") === "visible") this._connectNow(); };
    globalThis.addEventListener?.("online", this.onWake);
    globalThis.document?.addEventListener?.("visibilitychange", this.onWake);
    this._open();
  }

  /** Adds a handler for "state", "presence", "data" or "list"; returns a function that removes it. */
  on(event, fn) {
    const set = this.handlers[event];
    if (!set) throw new TypeError(`lifeline: no event ${JSON.stringify(event)} (state, presence, data, list)`);
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Sends DATA (a string is sent as UTF-8). False when not online: nothing is queued. */
  send(data) {
    const bytes = typeof data === "string" ? utf8.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new TypeError("lifeline: send() takes a string or a Uint8Array");
    if (this.state !== "online") return false;
    this._write(new Writer(T.data).raw(bytes).frame());
    return true;
  }

  /** The online list, once the server answers. @returns {Promise<List>} */
  list(timeoutMs = 5000) {
    if (this.state !== "online") return Promise.reject(new Error(`lifeline: not online (${this.state})`));
    const request = this.nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pendingLists.delete(request); reject(new Error("lifeline: no list within " + timeoutMs + " ms")); }, timeoutMs);
      this.pendingLists.set(request, { resolve, reject, timer, list: { online: 0, seq: 0, instance: "", clients: [] } });
      this._write(new Writer(T.list).u32(request).frame());
    });
  }

  /** Presence events from now on, as on("presence"); with snapshot (default) the
   * online list first, as on("list"). Resumed after each reconnect: nothing is
   * missed, or a "gap" event says so and a fresh list follows. */
  subscribe({ snapshot = true } = {}) {
    if (this.stream) return;
    this.stream = { snapshot, instance: null, seq: 0n, request: this.nextRequest++ };
    if (this.state === "online") this._sendSubscribe();
  }

  /** Says BYE and closes for good: no reconnect. */
  close(text = "") {
    if (this.state === "closed") return;
    if (this.state === "online") this._write(new Writer(T.bye).u8(1).str16(text).frame());
    this._teardown();
    globalThis.removeEventListener?.("online", this.onWake);
    globalThis.document?.removeEventListener?.("visibilitychange", this.onWake);
    this._setState("closed", "closed by the application");
  }

  // ---- connection life ----
  _open() {
    this.welcomed = false;
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (e) {
      this._lost("cannot open WebSocket: " + e.message);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.timers.connect = setTimeout(() => this._lost("no WELCOME within " + this.opts.connectTimeoutMs + " ms"), this.opts.connectTimeoutMs);
    ws.onopen = () => this._write(this._hello());
    ws.onmessage = (m) => this._onMessage(m.data);
    ws.onclose = (e) => this._lost(this.byeReason || `WebSocket closed (code ${e.code}${e.reason ? ": " + e.reason : ""})`);
    ws.onerror = () => {}; // onclose follows and says it
  }

  _hello() {
    const w = new Writer(T.hello).u8(VERSION)
      .u8((this.opts.serverPings ? FLAG_SERVER_PINGS : 0) | (this.opts.observer ? FLAG_OBSERVER : 0))
      .u32(this.opts.intervalMs).u32(this.opts.timeoutMs).str16(this.id);
    const labels = Object.entries(this.opts.labels || {});
    w.u16(labels.length);
    for (const [k, v] of labels) w.str16(k).str16(String(v));
    if (this.opts.token) w.str16(this.opts.token);
    return w.frame();
  }

  _write(bytes) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(bytes);
  }

  _teardown() {
    for (const t of Object.values(this.timers)) { clearTimeout(t); clearInterval(t); }
    this.timers = {};
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onopen = null;
      try { this.ws.close(1000); } catch { /* already closed */ }
      this.ws = null;
    }
    for (const [, p] of this.pendingLists) { clearTimeout(p.timer); p.reject(new Error("lifeline: connection lost")); }
    this.pendingLists.clear();
  }

  _lost(reason) {
    if (this.state === "closed") return;
    this._teardown();
    if (this.refused) {
      this._setState("closed", reason, this.refused);
      return;
    }
    this._setState("offline", reason);
    const delay = backoffDelay(this.attempt++, this.opts.backoffBaseMs, this.opts.backoffCapMs, this.opts.random);
    this.timers.retry = setTimeout(() => this._connectNow(), delay);
  }

  _connectNow() {
    if (this.state !== "offline") return;
    clearTimeout(this.timers.retry);
    this.byeReason = null;
    this._setState("connecting", "reconnecting");
    this._open();
  }

  _setState(state, reason, refused) {
    const previous = this.state;
    this.state = state;
    const change = { state, previous, reason, attempt: this.attempt };
    if (refused) change.refused = refused;
    this._emit("state", change);
  }

  _emit(event, value) {
    for (const fn of this.handlers[event]) {
      try { fn(value); } catch (e) { setTimeout(() => { throw e; }); } // one bad handler does not stop the others
    }
  }

  // ---- frames in ----
  _onMessage(data) {
    if (!(data instanceof ArrayBuffer)) { this._lost("the server sent a text message"); return; }
    this.lastRx = performance.now();
    const bytes = new Uint8Array(data);
    let at = 0;
    try {
      while (at < bytes.length) {
        if (bytes.length - at < 5) throw new Error("a message ended inside a frame header");
        const len = new DataView(data, at, 4).getUint32(0);
        const type = bytes[at + 4];
        if (bytes.length - at - 5 < len) throw new Error("a message ended inside a frame");
        this._onFrame(type, bytes.subarray(at + 5, at + 5 + len));
        at += 5 + len;
      }
    } catch (e) {
      this._lost("bad frame from the server: " + e.message);
    }
  }

  _onFrame(type, p) {
    const r = new Reader(p);
    switch (type) {
      case T.welcome: return this._onWelcome(r);
      case T.ping: this._write(new Writer(T.pong).raw(p).frame()); return;
      case T.pong: { const sent = r.u64(); this.rttUs = Number(nowUs() - sent); return; }
      case T.data: this._emit("data", p.slice()); return;
      case T.bye: { const reason = REASONS[r.u8()] || "unknown"; const text = r.str16(); this.byeReason = `server said BYE (${reason}${text ? ": " + text : ""})`; return; }
      case T.error: {
        const code = ERRORS[r.u16()] || "unknown";
        const message = r.str16();
        // Refusals that a retry cannot fix end the client: say why and stop.
        if (!this.welcomed && ["unauthorized", "rejected", "unsupported_version", "malformed"].includes(code)) this.refused = code;
        this.byeReason = `server error ${code}: ${message}`;
        return;
      }
      case T.listReply: return this._onListReply(r);
      case T.event: return this._onEvent(r);
      default: throw new Error("unexpected frame type " + type);
    }
  }

  _onWelcome(r) {
    r.u8(); r.u8();
    this.heartbeat = { intervalMs: r.u32(), timeoutMs: r.u32() };
    this.session = r.u64().toString();
    this.id = r.str16();
    this.instance = hex64(r.u64());
    r.end("WELCOME");
    this.welcomed = true;
    this.attempt = 0;
    clearTimeout(this.timers.connect);
    this.lastRx = performance.now();
    const { intervalMs, timeoutMs } = this.heartbeat;
    // The client pings only when the server does not; either way a server silent for the timeout is dead.
    if (!this.opts.serverPings) this.timers.ping = setInterval(() => this._write(new Writer(T.ping).u64(nowUs()).frame()), intervalMs);
    this.timers.watch = setInterval(() => {
      const silent = performance.now() - this.lastRx;
      if (silent >= timeoutMs) this._lost(`server silent for ${Math.round(silent)} ms (timeout ${timeoutMs} ms)`);
    }, Math.max(50, Math.min(intervalMs, timeoutMs / 4)));
    this._setState("online", "welcomed");
    if (this.stream) this._sendSubscribe();
  }

  _sendSubscribe() {
    const s = this.stream;
    const resume = s.instance !== null;
    const flags = (s.snapshot ? SUB_SNAPSHOT : 0) | (resume ? SUB_RESUME : 0);
    this._write(new Writer(T.subscribe).u32(s.request).u8(flags).u64(resume ? BigInt("0x" + s.instance) : 0n)
      .u64(resume ? s.seq : 0n).frame());
  }

  _onListReply(r) {
    const request = r.u32(); const last = r.u8() === 1; const online = r.u32(); const n = r.u16();
    const clients = [];
    for (let i = 0; i < n; i++) {
      const e = { id: r.str16(), peer: r.str16(), since: dateMs(r.u64()), lastSeen: dateMs(r.u64()), rttUs: r.u32(),
        intervalMs: r.u32(), timeoutMs: r.u32(), labels: r.labels() };
      e.session = r.u64().toString();
      e.transport = TRANSPORTS[r.u8()] || "unknown";
      clients.push(e);
    }
    const seq = r.u64(); const instance = hex64(r.u64());
    r.end("LIST_REPLY");
    const pending = this.pendingLists.get(request);
    const into = pending ? pending.list : (this.streamList ??= { online: 0, seq: 0, instance: "", clients: [] });
    into.clients.push(...clients);
    Object.assign(into, { online, seq: Number(seq), instance });
    if (!last) return;
    if (pending) {
      clearTimeout(pending.timer);
      this.pendingLists.delete(request);
      pending.resolve(into);
    } else {
      this.streamList = null;
      if (this.stream) { this.stream.instance = instance; this.stream.seq = seq; }
      this._emit("list", into);
    }
  }

  _onEvent(r) {
    const e = { seq: r.u64(), kind: KINDS[r.u8()] || "unknown", reason: REASONS[r.u8()] || "unknown", at: dateMs(r.u64()),
      id: r.str16(), peer: r.str16(), instance: hex64(r.u64()), session: r.u64().toString(), transport: TRANSPORTS[r.u8()] || "unknown" };
    r.end("EVENT");
    if (this.stream) { this.stream.instance = e.instance; this.stream.seq = e.seq; }
    e.seq = Number(e.seq);
    this._emit("presence", e);
  }
}

/** The online list kept current from a subscription: ids to their sessions.
 * `onChange(ids)` runs after every change. Events do not carry labels, so a
 * session that comes online is filled in from one list() shortly after. */
export function trackPresence(client, onChange) {
  /** @type {Map<string, Map<string, Entry>>} */
  const ids = new Map();
  let refill = null;
  const fillLabels = () => {
    refill = null;
    client.list().then((list) => {
      for (const c of list.clients) {
        const known = ids.get(c.id)?.get(c.session);
        if (known) Object.assign(known, { labels: c.labels, since: c.since });
      }
      onChange(ids);
    }, () => {}); // offline meanwhile: the next snapshot has them
  };
  const add = (e) => { if (!ids.has(e.id)) ids.set(e.id, new Map()); ids.get(e.id).set(e.session, e); };
  const drop = (id, session) => { const s = ids.get(id); if (!s) return; s.delete(session); if (s.size === 0) ids.delete(id); };
  client.on("list", (list) => { ids.clear(); for (const c of list.clients) add(c); onChange(ids); });
  client.on("presence", (e) => {
    const entry = { id: e.id, peer: e.peer, transport: e.transport, session: e.session, since: e.at, labels: {} };
    switch (e.kind) {
      case "online": case "join": add(entry); refill ??= setTimeout(fillLabels, 100); break;
      case "takeover": ids.delete(e.id); add(entry); refill ??= setTimeout(fillLabels, 100); break;
      case "leave": drop(e.id, e.session); break;
      case "offline": ids.delete(e.id); break;
      default: return; // a gap: the fresh list that follows replaces everything
    }
    onChange(ids);
  });
  client.subscribe({ snapshot: true });
  return ids;
}
