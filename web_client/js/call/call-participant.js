// What a shopper's call and an agent's presence share: a reconnecting session, the camera, one
// peer connection per call, and the call's life on this side (connecting, connected, ended,
// media trouble, hang-up). ShopperCall and AgentPresence add what only their role does.
//
// Emits:
//   `state`             {state, words, ...}  the state to show
//   `joined`            the server's joined message
//   `participant-state` the other side's state, with `words`
//   `call-ended`        {call_id, reason, by, words}
//   `error`             {code, words}  a refused request or a problem the page should show
//   `local-stream`      the camera stream (for a self view)
//   `message`           every server message (pages handle chat, photos, queue position…)

import { detachStream, showSelfView } from "../components/video-tile.js";
import { Emitter } from "./emitter.js";
import { getCameraAndMicrophone } from "./media.js";
import { CallPeer } from "./peer.js";
import { CLOSE, SilklineError, capitalize, describeEnd, describeError, websocketUrl } from "./protocol.js";
import { ReconnectingSession } from "./session.js";

export const STATES = [
  "idle", "starting", "available", "away", "waiting", "ringing", "connecting", "connected",
  "reconnecting", "unavailable", "ended", "error",
];

export class CallParticipant extends Emitter {
  constructor({
    role, // "shopper" | "agent"
    getToken, // async () => token (called once, the token is reused to rejoin)
    wsUrl = websocketUrl(),
    localVideo = null,
    remoteVideo = null,
    extraAudio = null, // <audio> for a supervisor's whisper / barge-in
    media = "video", // "video", or "audio" for a voice-only shopper (no camera)
    otherName = "the other side",
    maxRetries = 6,
    backoffBaseMs = 500,
    backoffMaxMs = 8000,
    debug = false,
    devices = null,
  }) {
    super();
    this.role = role;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.extraAudio = extraAudio;
    this.media = media === "audio" ? "audio" : "video";
    this.otherName = otherName;
    this.maxRetries = maxRetries;
    this.debug = debug;

    this.connection = new ReconnectingSession({
      url: wsUrl,
      getToken,
      joinFields: () => this._joinFields(),
      onJoined: (m, { rejoined }) => this._onJoined(m, rejoined),
      maxAttempts: maxRetries,
      backoffBaseMs,
      backoffMaxMs,
      log: (...a) => this.log(...a),
    });
    this._wire(this.connection);

    this.peerObj = null;
    this.localStream = null;
    this.devices = devices; // {camera, microphone}: device ids chosen on this device (or null)
    this.iceServers = [];
    this.callId = null;
    this.participantId = null;
    this.state = "idle";
    this.serverState = null; // last call-state from the server
    // From connecting until ended. Not derivable from `state`: it stays true while a
    // transferred shopper waits for the next agent, and while the media reconnects.
    this.inCall = false;
    this._stopped = false;
    this._hangupTimer = null;
    this._mediaPromise = null;
    this._mediaGeneration = 0;
    this._endedCalls = new Set();
    this._retryTimer = null;
    this._movedAt = 0; // when the call's media last moved to a new room (`migrated`)
  }

  /** The token the session joined with (REST calls of this call use it too). */
  get token() {
    return this.connection.token;
  }

  /** The current socket (null before the first join). */
  get signaling() {
    return this.connection.signaling;
  }

  log(...args) {
    if (this.debug) console.log(`[silkline ${this.role} ${performance.now().toFixed(0)}]`, ...args);
  }

  peer() {
    return this.peerObj ? this.peerObj.pc : null;
  }

  _setState(state, words, extra = {}) {
    this.state = state;
    this.log("state", state, words || "");
    this.emit("state", { state, words, ...extra });
  }

  // --- hooks for the roles --------------------------------------------------------------

  _joinFields() {
    return {};
  }

  /** The words while the first join is under way. */
  get _startWords() {
    return "Starting…";
  }

  /** After a join that resumed no call: the role's resting state. */
  _onJoinedIdle(m, callState) { // eslint-disable-line no-unused-vars
  }

  /** Server call-states this role alone acts on (waiting, ringing). */
  _onQueued(m) { // eslint-disable-line no-unused-vars
  }

  /** True when a call-state is not about this participant's call. */
  _ignoresCallState(m) { // eslint-disable-line no-unused-vars
    return false;
  }

  /** True when a refused request was the role's own business (handled). */
  _onRefused(m) { // eslint-disable-line no-unused-vars
    return false;
  }

  /** Whether a camera that arrives after the session stopped is dropped at once. */
  get _dropsLateMedia() {
    return false;
  }

  /** The state an ended call shows: "ended", or the shopper's "unavailable". */
  _endState(m) { // eslint-disable-line no-unused-vars
    return "ended";
  }

  /** After a call ended: what the role does with its socket and its next call. */
  _afterCall(m, endedId, endState) { // eslint-disable-line no-unused-vars
  }

  /** A re-join was refused: the call is gone (call_not_found), the token no longer works, or
   *  (invalid_state) the server cannot take us now — try again. */
  _onRejoinRefused(err) {
    if (err.code === "call_not_found") this._finishCall({ call_id: this.callId, reason: "peer_gone" });
    else if (err.code === "invalid_state") this.connection.reconnect();
    else this._fail(err);
  }

  /** Whether a `joined` takes us back into our call (a resumed join within the grace period):
   *  the call's state says so (a shopper's `joined` carries it). */
  _resumesCall(m) {
    const callState = m.state || null;
    return !!m.resumed && (callState === "connecting" || callState === "connected" || (!callState && this.inCall));
  }

  /** Whether a lost socket is worth a reconnect in the current state. */
  _reconnectsAfterLoss() {
    return true;
  }

  // --- media ----------------------------------------------------------------------------

  /** Starts the camera (once per call); the stream is shown in the self view. */
  acquireMedia() {
    if (!this._mediaPromise) {
      const generation = this._mediaGeneration;
      this._mediaPromise = getCameraAndMicrophone({ video: this.media === "video", devices: this.devices }).then(
        (stream) => {
          if (generation !== this._mediaGeneration || (this._stopped && this._dropsLateMedia)) {
            // Released (call withdrawn, ended, page leaving) while the camera was starting.
            stream.getTracks().forEach((t) => t.stop());
            return null;
          }
          this.localStream = stream;
          showSelfView(this.localVideo, stream);
          this.emit("local-stream", stream);
          return stream;
        },
        (err) => {
          if (generation === this._mediaGeneration) this._mediaPromise = null;
          throw err;
        }
      );
    }
    return this._mediaPromise;
  }

  releaseMedia() {
    this._mediaGeneration += 1;
    if (this.localStream) this.localStream.getTracks().forEach((t) => t.stop());
    this.localStream = null;
    this._mediaPromise = null;
    detachStream(this.localVideo);
  }

  /** Swaps the camera track (front/back camera) on the live call and in the self view. */
  replaceVideoTrack(track) {
    return this.replaceTrack(track);
  }

  /** Swaps the camera or the microphone (by the track's kind) on the call and in the self view:
   *  another device chosen before or during the call. */
  async replaceTrack(track) {
    const stream = this.localStream;
    const video = track.kind === "video";
    if (!stream) throw new SilklineError("no_media", "no stream", video ? "The camera is not on." : "The microphone is not on.");
    const old = (video ? stream.getVideoTracks() : stream.getAudioTracks())[0] || null;
    if (old) track.enabled = old.enabled;
    const sender = this.peerObj ? (video ? this.peerObj.videoSender : this.peerObj.audioSender) : null;
    if (sender) await sender.replaceTrack(track);
    if (old) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    if (video && this.localVideo) {
      this.localVideo.srcObject = null;
      showSelfView(this.localVideo, stream);
    }
    this.emit("local-stream", stream);
  }

  // --- joining --------------------------------------------------------------------------

  /** Gets a token, opens the socket and joins. Rejects (with `.words`) if that fails. */
  async start() {
    this._stopped = false;
    this._setState("starting", this._startWords);
    await this.connection.open();
  }

  _wire(c) {
    c.on("call-state", (m) => this._onCallState(m));
    c.on("answer", (m) => this._onAnswer(m));
    c.on("participant-state", (m) => this._onParticipantState(m));
    c.on("migrated", (m) => this._onMigrated(m));
    c.on("call-ended", (m) => this._finishCall(m));
    c.on("error", (m) => this._onServerError(m));
    c.on("message", (m) => this.emit("message", m)); // everything, for pages that want more
    c.on("protocol-error", (e) => this.emit("error", { code: "protocol", words: e.words }));
    c.on("lost", (info) => this._onSocketClosed(info));
    c.on("reconnecting", ({ attempt, max }) => {
      this._setState("reconnecting", `Reconnecting… (attempt ${attempt} of ${max})`, { attempt });
    });
    c.on("give-up", () => {
      this._fail(new SilklineError("network", "reconnect failed", "The connection was lost and could not be restored."));
    });
    c.on("rejoin-refused", (err) => this._onRejoinRefused(err));
  }

  _onJoined(m, wasReconnecting) {
    this.iceServers = Array.isArray(m.ice_servers) ? m.ice_servers : [];
    this.participantId = m.participant_id || this.participantId;
    if (m.call_id) this.callId = m.call_id;
    this.emit("joined", m);

    const callState = m.state || null;
    if (callState === "ended") {
      this._finishCall({ call_id: this.callId, reason: m.reason || "hang_up" });
      return;
    }
    if (this._resumesCall(m)) {
      // Back within the grace period: a fresh offer on a new peer connection.
      this.inCall = true;
      this._setState("reconnecting", "Reconnecting…");
      this._newPeerAndOffer().catch((err) => this._fail(err));
      return;
    }
    if (wasReconnecting && this.inCall && !m.resumed) {
      // We came back, but the server no longer knows us in a call (it ended meanwhile: the
      // grace period ran out, or the server restarted).
      this._finishCall({ call_id: this.callId, reason: "peer_gone", by: this.role,
        words: "The call ended while you were disconnected." });
      return;
    }
    this._onJoinedIdle(m, callState);
  }

  // --- the call -------------------------------------------------------------------------

  _onCallState(m) {
    if (this._ignoresCallState(m)) return;
    this.serverState = m.state;
    switch (m.state) {
      case "waiting":
      case "ringing":
        this._onQueued(m);
        break;
      case "connecting":
        this.callId = m.call_id || this.callId;
        this.inCall = true;
        if (this.state !== "reconnecting") this._setState("connecting", "Connecting…");
        if (!this.peerObj || this.peerObj.callId !== this.callId || this.peerObj._closed) {
          this._startPeer().catch((err) => this._fail(err));
        }
        break;
      case "connected":
        this.inCall = true;
        this._setState("connected", "Connected");
        break;
      case "ended":
        this._finishCall({ call_id: m.call_id, reason: m.reason, by: m.by });
        break;
      case "unavailable":
        // Nobody can take the call (no agent, queue full, waited too long); `call-ended` follows.
        // The socket stays open: the shopper may leave a callback request instead.
        this._finishCall({
          call_id: m.call_id, reason: "unavailable", detail: m.reason, by: "server", message: m.message,
        });
        break;
      default:
        this.log("unknown call state", m.state);
    }
  }

  _makePeer() {
    return new CallPeer({
      signaling: this.signaling,
      iceServers: this.iceServers,
      localStream: this.localStream,
      remoteVideo: this.remoteVideo,
      extraAudio: this.extraAudio,
      onIceProblem: (state) => this._onIceProblem(state),
      onIceState: (state) => {
        if (state === "connected" || state === "completed") this.connection.attempt = 0;
        if ((state === "connected" || state === "completed") && this.state === "reconnecting" && this.serverState === "connected") {
          this._setState("connected", "Connected");
        }
      },
      log: (...a) => this.log(...a),
    });
  }

  async _startPeer() {
    const stream = await this.acquireMedia();
    if (!this.inCall || this._stopped) return;
    if (!stream) throw new SilklineError("no_media", "camera released", "The camera stopped while the call was starting.");
    if (!this.peerObj || this.peerObj._closed || this.peerObj.signaling !== this.signaling) {
      if (this.peerObj) this.peerObj.close();
      this.peerObj = this._makePeer();
    }
    await this.peerObj.start(this.callId);
  }

  async _newPeerAndOffer() {
    this._closePeer();
    await this._startPeer();
  }

  _closePeer() {
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
  }

  _onAnswer(m) {
    if (!this.peerObj) return;
    this.peerObj.applyAnswer(m.sdp, m.ref).catch((err) => {
      this.log("answer failed", err);
      this.emit("error", { code: "bad_answer", words: "The server's media answer could not be used." });
      this._onIceProblem("answer-failed");
    });
  }

  /** The call's media moved to a new room (another server): the call goes on. Like a resumed
   *  join: "Reconnecting…", a new peer connection with the same camera and microphone, a fresh
   *  offer; "Connected" again once its ICE connects. */
  _onMigrated(m) {
    if (!this.inCall || this._stopped || (m.call_id && this.callId && m.call_id !== this.callId)) return;
    this.log("media moved", m.reason);
    this._movedAt = Date.now();
    clearTimeout(this._retryTimer);
    this._setState("reconnecting", "Reconnecting…", { reason: "migrated" });
    // no peer connection yet (the camera is still starting): the one on its way offers into the new room
    if (this.peerObj) this._newPeerAndOffer().catch((err) => this._fail(err));
  }

  _onParticipantState(m) {
    const other = this.otherName;
    // after a move (`migrated`) both sides reconnect their video: the other side did not drop
    const moving = this._movedAt && Date.now() - this._movedAt < 30_000;
    const words = {
      connected: `${capitalize(other)} is connected.`,
      reconnecting: moving
        ? `The call's video is moving to another server — ${other} is reconnecting too…`
        : `${capitalize(other)} lost the connection — waiting for them to come back${m.grace_s ? ` (up to ${m.grace_s} s)` : ""}…`,
      left: `${capitalize(other)} left the call.`,
    }[m.state] || `${capitalize(other)}: ${m.state}`;
    this.emit("participant-state", { ...m, words });
  }

  _onServerError(m) {
    if (m.code === "bad_candidate") {
      // One unusable address (an mDNS or TCP candidate, say) is not worth alarming anyone:
      // the other candidates carry the call.
      this.log("candidate refused", m.message);
      return;
    }
    const overDuringRejoin = this.callId && this._endedCalls.has(this.callId);
    if (this.connection.joining && (this.connection.reconnecting || overDuringRejoin)
        && (m.code === "invalid_state" || m.code === "call_not_found")) {
      // a refused re-join: `rejoin-refused` decides what it means (the call ended meanwhile…);
      // a server that says `call-ended` first has already ended the call here: nothing to show
      this.log("re-join refused", m.code, m.message);
      return;
    }
    this.emit("error", { code: m.code, words: m.words, message: m.message, ref: m.ref });
    if (this._onRefused(m)) return;
    if (m.code === "unauthorized") {
      this._stopped = true;
      this._fail(new SilklineError(m.code, m.message, m.words));
    } else if ((m.code === "call_not_found") && this.inCall) {
      this._finishCall({ call_id: this.callId, reason: "peer_gone" });
    } else if (m.code === "bad_sdp" && this.inCall) {
      this._fail(new SilklineError(m.code, m.message, m.words));
    } else if ((m.code === "too_many_waiting" || m.code === "too_many_connections") && !this.inCall) {
      // a cap per client (docs/deploy.md, "Limits"): trying again at once would be refused again
      this._stopped = true;
      this._fail(new SilklineError(m.code, m.message, m.words));
    }
  }

  _finishCall(m) {
    if (m.call_id && this.callId && m.call_id !== this.callId) return;
    const endedId = m.call_id || this.callId;
    if (endedId && this._endedCalls.has(endedId)) return; // call-state{ended} and call-ended both come
    if (endedId) this._endedCalls.add(endedId);
    if (!endedId && this.state === "ended") return;
    clearTimeout(this._hangupTimer);
    this._hangupTimer = null;
    this.inCall = false;
    this.serverState = "ended";
    this._closePeer();
    // Who hung up, when the server does not say: us if we sent `hangup`, else the other side.
    const by = m.by || (m.reason === "hang_up" ? (this._hungUp ? this.role : "other") : undefined);
    this._hungUp = false;
    let words = describeEnd(m.reason, { by, me: this.role, other: this.otherName, detail: m.detail });
    if (m.reason === "unavailable" && m.message) words = m.message;
    if (m.words) words = m.words;
    this.releaseMedia();
    const endState = this._endState(m);
    this._setState(endState, words,
      { reason: m.reason || null, by: m.by || null, callId: endedId, detail: m.detail || null });
    this.emit("call-ended", { ...m, words });
    this._afterCall(m, endedId, endState);
  }

  /** Sends one protocol message (chat, snapshot, transfer…); throws in words if offline. */
  sendMessage(type, fields = {}) {
    if (!this.connection.isOpen) {
      throw new SilklineError("network", "socket not open", "Not connected to the server. Please wait a moment.");
    }
    return this.connection.send(type, fields);
  }

  /** Tells the others our microphone / camera is on or off (their tiles say "muted", "camera off"). */
  announceMedia({ audio, video }) {
    if (this.connection.isOpen && this.callId) {
      this.connection.send("media-state", { call_id: this.callId, audio: !!audio, video: !!video });
    }
  }

  /** Ends the call (or gives up waiting). The server confirms with `call-ended`. */
  hangup() {
    const id = this.callId;
    if (!id || this.state === "ended") return;
    this._hungUp = true;
    if (this.connection.isOpen) {
      try {
        this.connection.send("hangup", { call_id: id });
      } catch (_) { /* ended locally below */ }
      clearTimeout(this._hangupTimer);
      this._hangupTimer = setTimeout(
        () => this._finishCall({ call_id: id, reason: "hang_up", by: this.role }),
        3000
      );
    } else {
      this._finishCall({ call_id: id, reason: "hang_up", by: this.role });
    }
  }

  /** Signs out / leaves for good (page closing). */
  leave() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    this.connection.stop();
    this._closePeer();
    this.releaseMedia();
  }

  /** Gives up (in words): the session stops, the camera is released, the page shows `error`. */
  fail(err) {
    this._fail(err);
  }

  _fail(err) {
    const words = (err && err.words) || "Something went wrong.";
    this.log("fail", err);
    this.inCall = false;
    clearTimeout(this._retryTimer);
    this._closePeer();
    this.releaseMedia();
    this._stopped = true;
    this.connection.stop();
    this._setState("error", words, { code: err && err.code });
  }

  // --- reconnection -------------------------------------------------------------------

  _onIceProblem(state) {
    if (!this.inCall || this._stopped) return;
    this.log("media problem", state);
    if (this.connection.isOpen) {
      // The socket is fine: a fresh offer replaces the peer connection (protocol: `offer`).
      const delay = this.connection.nextDelay();
      if (delay === null) {
        this._fail(new SilklineError("network", "ice", "The video connection failed and could not be restored."));
        return;
      }
      this._setState("reconnecting", "Reconnecting…", { attempt: this.connection.attempt });
      clearTimeout(this._retryTimer);
      this._retryTimer = setTimeout(() => {
        if (!this.inCall || this._stopped) return;
        this._newPeerAndOffer().catch((err) => this._fail(err));
      }, delay);
    } else {
      this._scheduleReconnect();
    }
  }

  _onSocketClosed(info) {
    if (this._stopped) return;
    if (info.code === CLOSE.UNAUTHORIZED) {
      this._fail(new SilklineError("unauthorized", info.reason, describeError("unauthorized", info.reason)));
      return;
    }
    if (info.code === CLOSE.TOO_MANY) { // reconnecting at once would only be refused again
      this._fail(new SilklineError("too_many_connections", info.reason, describeError("too_many_connections")));
      return;
    }
    if (!this._reconnectsAfterLoss()) return;
    // Media may still flow; the resumed join brings a new peer connection anyway.
    this._closePeer();
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._stopped) return;
    this.connection.reconnect();
  }
}
