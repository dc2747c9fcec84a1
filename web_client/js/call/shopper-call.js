// A shopper's call: join with the page context, wait in the queue (the peer connection is built
// meanwhile, so the offer goes out the moment an agent accepts), talk, and, when nobody can take
// the call, leave a callback request on the same socket. A shopper token names one call: after
// it ends, the socket has nothing left to do.

import { requestJson } from "../rest.js";
import { CallParticipant } from "./call-participant.js";
import { SilklineError } from "./protocol.js";

export class ShopperCall extends CallParticipant {
  constructor({ context = null, callbackOnly = false, server = null, ...options }) {
    super({ ...options, role: "shopper" });
    // The REST base (the call record after an outage); default: the signaling server's origin.
    this.server = server || new URL("/", (options.wsUrl || location.href).replace(/^ws/, "http")).href;
    this.context = context; // the page the call starts from, shown to the agent (flat object)
    this.callbackOnly = callbackOnly; // nobody on duty: only a callback request; no camera, no microphone
  }

  _joinFields() {
    return this.context ? { context: this.context } : {};
  }

  get _startWords() {
    return "Starting your call…";
  }

  get _dropsLateMedia() {
    return true;
  }

  _onJoinedIdle(m, callState) {
    this._onCallState({ call_id: m.call_id, state: callState || "waiting" });
  }

  _ignoresCallState(m) {
    return !!(m.call_id && this.callId && m.call_id !== this.callId);
  }

  _onQueued(m) {
    if (m.state === "waiting") {
      const transferred = m.reason === "transferred";
      // at_capacity: the node has no room for the call yet; the server's words say it keeps its place
      const words = m.reason === "at_capacity" && typeof m.message === "string" && m.message ? m.message
        : transferred ? "Transferring you to a colleague…" : "Waiting for an expert…";
      this._setState("waiting", words, { reason: m.reason || null });
    } else {
      this._setState("ringing", "An expert is being connected…");
    }
    this._prewarm();
  }

  /** While the call waits, build the peer connection so the offer can go out at once. */
  _prewarm() {
    if (this.peerObj || this.callbackOnly) return;
    this.acquireMedia()
      .then((stream) => {
        if (!stream || this.peerObj || this._stopped || this.inCall) return;
        this.peerObj = this._makePeer();
        return this.peerObj.prepare();
      })
      .catch((err) => this._fail(err));
  }

  _endState(m) {
    return m.reason === "unavailable" ? "unavailable" : "ended";
  }

  _afterCall(m, endedId, endState) {
    // The socket stays only while a callback request may still follow (unavailable) or is
    // being answered (callback).
    this._stopped = true;
    if (endState !== "unavailable" && m.reason !== "callback") this._leaveSocket();
  }

  /**
   * After a server outage the re-join may be refused with invalid_state: the call ended while we
   * were away (a restarted server closes the calls it carried), or the server is shutting down.
   * The call record says which; an ended call ends here too, with the record's reason (the page
   * then knows the service dropped it), anything else is tried again.
   */
  _onRejoinRefused(err) {
    if (err.code !== "invalid_state" || !this.callId) {
      super._onRejoinRefused(err);
      return;
    }
    const callId = this.callId;
    requestJson(`/api/calls/${encodeURIComponent(callId)}`, { token: this.token, base: this.server })
      .then(({ ok, data }) => {
        if (this._stopped || this.callId !== callId) return;
        if (ok && data && data.state === "ended") {
          this._finishCall({ call_id: callId, reason: data.end_reason || "error", by: "server" });
        } else {
          this.connection.reconnect();
        }
      })
      .catch(() => this.connection.reconnect());
  }

  _reconnectsAfterLoss() {
    return !(this.state === "ended" || this.state === "idle");
  }

  _leaveSocket() {
    // The server closes the socket after `leave`; close it ourselves if it does not.
    this.connection.stop({ lingerMs: 2000 });
  }

  /**
   * Leave a callback request instead of waiting, or after `unavailable`. Resolves when the
   * server stored it (`callback-accepted`); rejects with `.words`.
   */
  async requestCallback({ name, contact, question = "" }) {
    if (!this.connection.isOpen || !this.callId) {
      throw new SilklineError("network", "socket not open",
        "The connection to the service was lost, so the request could not be sent. Please try again later.");
    }
    const reply = await this.connection.request("callback", { call_id: this.callId, name, contact, question },
      "callback-accepted");
    this._stopped = true;
    this._leaveSocket();
    return reply;
  }
}
