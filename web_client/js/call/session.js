// A reconnecting session: one person's link to the server that survives a dropped socket. It
// opens a WebSocket, joins with a token (fetched once, reused for every re-join: the server
// resumes a participant within its grace period), forwards every server message under its type,
// and, when asked after a loss, tries again with exponential backoff and jitter.
//
// Used by every page that talks to the signaling server: the shopper's call and the agent's
// presence (through CallParticipant), and the supervisor view.
//
// Emits each server message under its `type` and as `message`; `protocol-error` for bad frames;
// `lost` {code, reason} when the socket closed without being asked to; `reconnecting`
// {attempt, max} before each attempt; `give-up` when the attempts are used up; `rejoin-refused`
// (the error) when a re-join was refused (unauthorized, forbidden, call_not_found: for good;
// invalid_state: the call is over, or the server is shutting down — the owner asks which).
//
// A cluster closes a socket with 1012 when the node deciding for the contact centre changes
// hands or the node relaying the socket goes away: the call goes on, and the page comes back at
// once through the same origin (any live node). Until a join succeeds, the attempts then come
// quickly (at most HANDOVER_MAX_MS apart) and more of them are allowed, since the handover
// answers 503 for a few seconds (the lease's time to live).

import { Emitter } from "./emitter.js";
import { CLOSE, websocketUrl } from "./protocol.js";
import { SignalingClient } from "./signaling-client.js";

const REFUSALS = new Set(["unauthorized", "forbidden", "call_not_found", "invalid_state"]);
const FORWARDED_EXCEPT = new Set(["open", "close"]);
const HANDOVER_MAX_MS = 1000;
const HANDOVER_EXTRA_ATTEMPTS = 14;

export class ReconnectingSession extends Emitter {
  constructor({
    url = websocketUrl(),
    getToken, // async () => token; called once
    joinFields = () => ({}), // extra `join` fields (a shopper's page context)
    onJoined = () => {}, // (joined, {rejoined}) after every successful join, before it resolves
    maxAttempts = 6,
    backoffBaseMs = 500,
    backoffMaxMs = 8000,
    log = () => {},
  }) {
    super();
    this.url = url;
    this.getToken = getToken;
    this.joinFields = joinFields;
    this.onJoined = onJoined;
    this.maxAttempts = maxAttempts;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.log = log;
    this.token = null;
    this.signaling = null; // the current SignalingClient
    this.attempt = 0; // attempts since the last good join (also counts fresh offers: see nextDelay)
    this.reconnecting = false;
    this.joining = false;
    this.stopped = false;
    this.handover = false; // a 1012 close: the cluster moved us; quick attempts until a join
    this._timer = null;
  }

  get isOpen() {
    return !!this.signaling && this.signaling.isOpen;
  }

  /** Gets the token (once), opens the socket and joins; resolves with `joined`, rejects in words. */
  async open() {
    this.stopped = false;
    if (!this.token) this.token = await this.getToken();
    return this._openAndJoin();
  }

  async _openAndJoin() {
    const sig = new SignalingClient(this.url, { log: this.log });
    this.signaling = sig;
    sig.on("*", (detail, type) => {
      if (this.signaling === sig && !FORWARDED_EXCEPT.has(type)) this.emit(type, detail);
    });
    sig.on("close", (info) => {
      if (this.signaling !== sig || info.intentional || this.stopped) return;
      if (info.code === CLOSE.MOVED) this.handover = true;
      this.emit("lost", info);
    });
    await sig.open();
    let joined;
    this.joining = true; // an `error` meanwhile answers the join (owners leave it to `rejoin-refused`)
    try {
      joined = await sig.join(this.token, this.joinFields());
    } catch (err) {
      if (this.signaling === sig) sig.close();
      throw err;
    } finally {
      this.joining = false;
    }
    const rejoined = this.reconnecting;
    this.reconnecting = false;
    this.handover = false;
    this.attempt = 0;
    this.onJoined(joined, { rejoined });
    return joined;
  }

  /** Sends one message on the current socket; throws (in words) when there is none. */
  send(type, fields = {}) {
    if (!this.signaling) throw new Error("not connected");
    return this.signaling.send(type, fields);
  }

  request(type, fields, expect, options) {
    return this.signaling.request(type, fields, expect, options);
  }

  /** A fresher token (a staff sign-in refreshed): what every re-join uses from now on, and, on an
   *  open socket, the token the server holds it to (`refresh-token`), so a long shift is not cut
   *  off when the join token expires. */
  refreshToken(token) {
    this.token = token;
    if (this.isOpen) {
      try { this.send("refresh-token", { token }); } catch (_) { /* the next re-join uses it */ }
    }
  }

  backoff(n) {
    const cap = this.handover ? Math.min(HANDOVER_MAX_MS, this.backoffMaxMs) : this.backoffMaxMs;
    const base = Math.min(cap, this.backoffBaseMs * 2 ** n);
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  /** How many attempts a loss gets: more while the cluster hands over (a 1012 close). */
  get attemptsAllowed() {
    return this.maxAttempts + (this.handover ? HANDOVER_EXTRA_ATTEMPTS : 0);
  }

  /** Counts one more attempt and returns its delay, or null when the attempts are used up. */
  nextDelay() {
    if (this.attempt >= this.attemptsAllowed) return null;
    this.attempt += 1;
    return this.backoff(this.attempt - 1);
  }

  /** After a loss: a new socket and a re-join with the same token, after a growing delay. */
  reconnect() {
    if (this.stopped) return;
    const delay = this.nextDelay();
    if (delay === null) {
      this.emit("give-up", {});
      return;
    }
    this.reconnecting = true;
    this.emit("reconnecting", { attempt: this.attempt, max: this.attemptsAllowed });
    clearTimeout(this._timer);
    this._timer = setTimeout(async () => {
      if (this.stopped) return;
      try {
        if (this.signaling) this.signaling.close();
        await this._openAndJoin();
      } catch (err) {
        this.log("reconnect attempt failed", err);
        if (err && REFUSALS.has(err.code)) this.emit("rejoin-refused", err);
        else this.reconnect();
      }
    }, delay);
  }

  /** Ends the session for good: no reconnect follows. `leave` tells the server first;
   *  `lingerMs` lets the server close the socket itself. */
  stop({ leave = true, lingerMs = 0 } = {}) {
    this.stopped = true;
    this.reconnecting = false;
    this.handover = false;
    clearTimeout(this._timer);
    const sig = this.signaling;
    if (!sig) return;
    if (leave) sig.leave({ lingerMs });
    else sig.close();
  }
}
