// One WebSocket to the server speaking the signaling protocol (docs/protocol.md, v1): JSON
// messages with v:1, replies matched to requests, errors in words. Reconnection lives in
// session.js; this object is one socket's life.
//
// Liveness: browsers cannot send WebSocket pings, and a socket relayed through a cluster node
// that froze stays open at this end, silent, while the server counts the person as gone. So
// the socket sends `ping` every `pingEveryMs` and, without a `pong` within `pingTimeoutMs`,
// gives the socket up: `close` {code: 1006, reason: "no answer"} as if the network had cut it,
// and the session reconnects.

import { Emitter } from "./emitter.js";
import { CLOSE, PROTOCOL_VERSION, SilklineError, describeError } from "./protocol.js";

let messageCounter = 0;
const QUIET = new Set(["candidate", "ping", "pong"]); // not worth a line each in the debug log

/**
 * One WebSocket to the server. Emits each incoming message under its `type`, plus
 * `open`, `close` ({code, reason, intentional}) and `protocol-error` for bad frames.
 */
export class SignalingClient extends Emitter {
  constructor(url, { log = () => {}, pingEveryMs = 10000, pingTimeoutMs = 5000 } = {}) {
    super();
    this.url = url;
    this.ws = null;
    this.log = log;
    this.pingEveryMs = pingEveryMs;
    this.pingTimeoutMs = pingTimeoutMs;
    this._pinger = null;
    this._intentionalClose = false;
    this._pending = new Map(); // id -> {resolve, reject, expect}
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Opens the socket; resolves when open, rejects (in words) if it fails first. */
  open({ timeoutMs = 10000 } = {}) {
    this._intentionalClose = false;
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(this.url);
      this.ws = ws;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        try { ws.close(); } catch (_) { /* ignore */ }
        reject(new SilklineError("network", "open timeout", "The server did not answer in time."));
      }, timeoutMs);
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this._watch(ws);
        this.emit("open", {});
        resolve();
      };
      ws.onerror = () => {
        // The close event follows and carries the details; browsers give none here.
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        const info = { code: ev.code, reason: ev.reason, intentional: this._intentionalClose };
        this.log("socket closed", info);
        this._failPending();
        if (this.ws === ws) {
          this.ws = null;
          clearInterval(this._pinger);
        }
        if (!settled) {
          settled = true;
          reject(new SilklineError("network", `closed ${ev.code}`, "Could not reach the server."));
          return;
        }
        this.emit("close", info);
      };
      ws.onmessage = (ev) => this._onFrame(ev.data);
    });
  }

  _failPending() {
    for (const { reject: rej } of this._pending.values()) {
      rej(new SilklineError("network", "socket closed", "The connection to the server was lost."));
    }
    this._pending.clear();
  }

  /** Pings the open socket `ws` (see the top of this file) until it is replaced or closed. */
  _watch(ws) {
    clearInterval(this._pinger);
    if (!this.pingEveryMs) return;
    this._pinger = setInterval(() => {
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      this.request("ping", {}, "pong", { timeoutMs: this.pingTimeoutMs }).catch((err) => {
        if (err && err.code === "timeout") this._giveUp(ws);
      });
    }, this.pingEveryMs);
  }

  /** The socket stays silent: stop listening to it, close it without waiting, say it closed. */
  _giveUp(ws) {
    if (this.ws !== ws) return;
    clearInterval(this._pinger);
    ws.onclose = null;
    ws.onmessage = null;
    try { ws.close(); } catch (_) { /* ignore */ }
    this.ws = null;
    this._failPending();
    const info = { code: CLOSE.ABNORMAL, reason: "no answer", intentional: false };
    this.log("socket silent: given up", info);
    this.emit("close", info);
  }

  _onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      this.emit("protocol-error", { words: "The server sent a message this page could not read." });
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") {
      this.emit("protocol-error", { words: "The server sent a message without a type." });
      return;
    }
    if (!QUIET.has(msg.type)) this.log("recv", msg.type, summarize(msg));
    if (msg.type === "error") {
      msg.words = describeError(msg.code, msg.message);
      if (msg.ref && this._pending.has(msg.ref)) {
        const p = this._pending.get(msg.ref);
        this._pending.delete(msg.ref);
        p.reject(new SilklineError(msg.code, msg.message, msg.words));
        // A refused request is also reported, for pages that show every error.
      }
    } else {
      for (const [id, p] of this._pending) {
        if (p.expect === msg.type) {
          this._pending.delete(id);
          p.resolve(msg);
          break;
        }
      }
    }
    this.emit(msg.type, msg);
    this.emit("message", msg);
  }

  /** Sends `{v:1, type, id, ...fields}`; returns the id. Throws if the socket is not open. */
  send(type, fields = {}) {
    if (!this.isOpen) {
      throw new SilklineError("network", "socket not open", "Not connected to the server.");
    }
    const id = `m${++messageCounter}`;
    const msg = { v: PROTOCOL_VERSION, type, id, ...fields };
    if (!QUIET.has(type)) this.log("send", type, summarize(msg));
    this.ws.send(JSON.stringify(msg));
    return id;
  }

  /** Sends a message and waits for the reply of type `expect` (or an `error` that refers to it). */
  request(type, fields, expect, { timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      const id = this.send(type, fields);
      const timer = setTimeout(() => {
        if (this._pending.delete(id)) {
          reject(new SilklineError("timeout", `${type} timed out`, "The server did not answer in time."));
        }
      }, timeoutMs);
      this._pending.set(id, {
        expect,
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  /** `join` with a token (and, for a shopper, the page `context`); resolves with `joined`. */
  join(token, extra = {}) {
    return this.request("join", { token, ...extra }, "joined");
  }

  /** Sends `leave` and closes the socket on purpose: at once, or after `lingerMs` (the server
   *  closes it itself after `leave`; this is the fallback). */
  leave({ lingerMs = 0 } = {}) {
    if (this.isOpen) {
      try { this.send("leave"); } catch (_) { /* closing anyway */ }
    }
    this._intentionalClose = true;
    if (lingerMs) setTimeout(() => this.close(), lingerMs);
    else this.close();
  }

  /** Closes the socket on purpose (no reconnect follows). */
  close(code = CLOSE.NORMAL, reason = "") {
    this._intentionalClose = true;
    clearInterval(this._pinger);
    if (this.ws) {
      try { this.ws.close(code, reason); } catch (_) { /* ignore */ }
    }
  }
}

function summarize(msg) {
  const out = { ...msg };
  if (typeof out.sdp === "string") out.sdp = `<${out.sdp.length} chars>`;
  if (typeof out.token === "string") out.token = "<token>";
  return out;
}

