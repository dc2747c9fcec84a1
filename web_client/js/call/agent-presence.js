// An agent signed in: available or away, calls that ring (accept, decline, withdrawn), the call,
// and the wrap-up after it; the agent stays signed in from one call to the next.
//
// Emits, besides CallParticipant's: `call-offered` (a call rings), `call-withdrawn` (the ringing
// call went away), `agent-state` (the server's view of this agent), `wrap-up` {callId, endsAt}.

import { CallParticipant } from "./call-participant.js";

const AVAILABLE_WORDS = "Available — waiting for calls";

export class AgentPresence extends CallParticipant {
  constructor({ wrapUpMs = 5000, ...options }) {
    super({ ...options, role: "agent" });
    this.wrapUpMs = wrapUpMs; // how long "ended" shows before "available" on a server without wrap-up
    this.agentId = null;
    this.wrapUp = null; // {callId, endsAt} while the server holds us in wrap-up
    this._wrapUpTimer = null;
    this._lastCallId = null;
    this._acceptRef = null;
    // available or away, as last known: a re-sign-in after an outage restores it (a restarted
    // server, or one that signed us out when the socket dropped, would make us available)
    this.availability = null;

    const c = this.connection;
    c.on("call-offered", (m) => {
      clearTimeout(this._wrapUpTimer);
      this.wrapUp = null;
      this.callId = m.call_id;
      this._setState("ringing", "Incoming call", { callId: m.call_id });
      this.emit("call-offered", m);
    });
    c.on("call-withdrawn", (m) => {
      if (this.state === "ringing" && (!this.callId || m.call_id === this.callId)) {
        this.callId = null;
        this._closePeer();
        this.releaseMedia();
        this._setState("available", AVAILABLE_WORDS);
      }
      this.emit("call-withdrawn", m);
    });
    c.on("agent-state", (m) => this._onAgentState(m));
  }

  get _startWords() {
    return "Signing in…";
  }

  _onJoined(m, wasReconnecting) {
    if (m.agent_id) this.agentId = m.agent_id;
    const before = this.availability;
    super._onJoined(m, wasReconnecting);
    if (m.state === "available" || m.state === "away") this.availability = m.state;
    if (wasReconnecting && !m.resumed && before === "away" && m.state === "available") {
      this.log("signed in again after a loss: back to away, as before");
      this.setAvailability("away");
    }
  }

  /** An agent's `joined` carries the agent's state, not the call's: resumed into a call it is
   *  `busy` with that call's id (a new centre holder that rebuilt the call says the same). */
  _resumesCall(m) {
    if (m.resumed && m.call_id && m.state === "busy") return true;
    return super._resumesCall(m);
  }

  _onJoinedIdle(m, callState) {
    if (callState === "ringing" && m.call_id) {
      this._setState("ringing", "Incoming call", { callId: m.call_id });
    } else {
      this._setState("available", AVAILABLE_WORDS);
    }
  }

  /** The server's view of our availability: `available`, `away` (e.g. after a missed ring). */
  _onAgentState(m) {
    if (m.state === "available" || m.state === "away") this.availability = m.state;
    this.emit("agent-state", m);
    if (m.state === "wrap_up") {
      // The server holds us in a timed wrap-up after a call; it says when we are available.
      // While the agent types the server pauses the countdown (`wrap_up_paused`).
      this.wrapUp = {
        callId: m.call_id || this._lastCallId,
        endsAt: typeof m.wrap_up_s === "number" ? Date.now() + m.wrap_up_s * 1000 : null,
        paused: !!m.wrap_up_paused,
        leftS: typeof m.wrap_up_s === "number" ? m.wrap_up_s : null,
      };
      clearTimeout(this._wrapUpTimer);
      this.emit("wrap-up", this.wrapUp);
      return;
    }
    if (this.inCall || this.state === "ringing") return;
    if (m.state === "available") {
      this.wrapUp = null;
      clearTimeout(this._wrapUpTimer);
      if (this.state === "away" || this.state === "ended") {
        this._setState("available", AVAILABLE_WORDS);
      }
    } else if (m.state === "away" && this.state !== "away") {
      this.wrapUp = null;
      this._setState("away", "Away — not taking calls");
    }
  }

  /** The agent is typing the wrap-up notes: the server pauses the countdown. */
  wrapUpTyping() {
    if (this.wrapUp && this.wrapUp.callId && this.connection.isOpen) {
      this.connection.send("wrap-up-typing", { call_id: this.wrapUp.callId });
    }
  }

  /** The notes typed so far, kept by the server and filed if the wrap-up runs out. */
  wrapUpDraft({ disposition = "", notes = "" } = {}) {
    if (this.wrapUp && this.wrapUp.callId && this.connection.isOpen) {
      this.connection.send("wrap-up-draft", { call_id: this.wrapUp.callId, disposition, notes });
    }
  }

  /** `set-state`: "available" to take calls, "away" for a break. */
  setAvailability(state) {
    this.connection.send("set-state", { state });
  }

  _onRefused(m) {
    if (!(m.ref && m.ref === this._acceptRef && !this.inCall)) return false;
    // The call went to somebody else, or ended, before our accept arrived.
    this._acceptRef = null;
    this._closePeer();
    this.releaseMedia();
    this.callId = null;
    this._setState("available", AVAILABLE_WORDS);
    return true;
  }

  _afterCall(m, endedId) {
    // After a short wrap-up the console shows "available" again (a new call that rings
    // meanwhile takes over at once).
    this._lastCallId = endedId || this.callId;
    this.callId = null;
    clearTimeout(this._wrapUpTimer);
    if (!this.wrapUp) {
      // A server without wrap-up takes calls again at once; show "ended" for a moment.
      this._wrapUpTimer = setTimeout(() => this.ready(), this.wrapUpMs);
    }
  }

  /**
   * Back to "available" after a call. In a server wrap-up this sends `wrap-up` with the call's
   * outcome (the server answers `agent-state{available}`); otherwise it is local.
   */
  ready({ disposition = "", notes = "" } = {}) {
    clearTimeout(this._wrapUpTimer);
    if (this._stopped || !this.connection.isOpen) return;
    if (this.wrapUp && this.wrapUp.callId) {
      this.connection.send("wrap-up", { call_id: this.wrapUp.callId, disposition, notes });
      return;
    }
    if (this.state === "ended") this._setState("available", AVAILABLE_WORDS);
  }

  /** Take the offered call. */
  accept(callId) {
    this.callId = callId;
    this.acquireMedia()
      .then((stream) => {
        if (stream && !this.peerObj && this.callId === callId && !this._stopped) {
          this.peerObj = this._makePeer();
          return this.peerObj.prepare();
        }
        return undefined;
      })
      .catch((err) => this._fail(err));
    this._setState("connecting", "Accepting…", { callId });
    this._acceptRef = this.connection.send("accept", { call_id: callId });
  }

  /** Refuse the offered call. */
  decline(callId) {
    this.connection.send("decline", { call_id: callId });
    this._closePeer();
    this.releaseMedia();
    this.callId = null;
    this._setState("available", AVAILABLE_WORDS);
  }
}
