// Silkline call client: the browser side of the signaling protocol (docs/protocol.md, v1).
//
//   SignalingClient  one WebSocket, JSON messages with v:1, event dispatch, errors in words.
//   CallPeer         one RTCPeerConnection: offer, answer, trickled candidates, remote video,
//                    and a watch on ICE that reports a connection that stays broken.
//   CallSession      one person's presence on the server (a shopper's call, or an agent signed
//                    in): join, the call lifecycle, and reconnection with exponential backoff.
//
// Plain ES module, no dependencies, no build step. Holds no secrets: tokens come from the page.

export const PROTOCOL_VERSION = 1;

/** Close codes the server uses (protocol.md). */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  POLICY: 1008, // flooding
  TOO_LARGE: 1009,
  UNAUTHORIZED: 4401,
});

const ERROR_WORDS = {
  bad_json: "The server could not read a message from this page.",
  invalid_message: "The server rejected a malformed message.",
  unknown_type: "The server did not understand a message from this page.",
  unsupported_version: "This page speaks a protocol version the server does not support. Reload the page.",
  message_too_large: "A message from this page was too large.",
  rate_limited: "Too many messages were sent too quickly.",
  not_joined: "The connection was not signed in yet.",
  already_joined: "This connection was already signed in.",
  unauthorized: "Your session is not valid or has expired. Reload the page to start again.",
  forbidden: "You are not allowed to do that.",
  call_not_found: "That call no longer exists.",
  invalid_state: "That is not possible at this point of the call.",
  bad_sdp: "The server could not use this browser's media description.",
  bad_candidate: "The server could not use a network address from this browser.",
  internal_error: "Something went wrong on our side.",
};

/** A sentence for people, from an `error` message's stable code (and the server's text). */
export function describeError(code, message) {
  const words = ERROR_WORDS[code] || "Something went wrong.";
  if (code === "unauthorized" && message && /expired/i.test(message)) {
    return "Your session has expired. Reload the page to start again.";
  }
  return words;
}

const END_WORDS = {
  hang_up: "The call was ended.",
  peer_gone: "The connection to the other side was lost and did not come back.",
  timeout: "The call timed out.",
  node_drain: "The service is restarting. Please call again.",
  error: "The call ended because of a problem on our side.",
  declined: "The call was declined.",
  replaced: "The call continued in another window.",
  unavailable: "No expert is available right now. Please try again later.",
  callback: "We will call you back.",
  transferred: "The call was handed on to a colleague.",
  monitor_end: "Monitoring ended.",
};

const UNAVAILABLE_WORDS = {
  no_agents: "No expert is available right now. Please try again later.",
  queue_full: "All our experts are busy. Please try again in a few minutes.",
  wait_limit: "We're sorry: nobody could take your call in time. Please try again later.",
};

/**
 * Why a call ended, in words. `me` is the viewer's role, `by` who ended it,
 * `other` how to name the other side ("the expert", "the shopper").
 */
export function describeEnd(reason, { by, me, other = "the other side", detail } = {}) {
  if (reason === "unavailable" && detail && UNAVAILABLE_WORDS[detail]) return UNAVAILABLE_WORDS[detail];
  if (reason === "hang_up") {
    if (by && me && by === me) return "You ended the call.";
    if (by && by !== "server") return `${capitalize(other)} ended the call.`;
  }
  if (reason === "peer_gone") {
    return `The connection to ${other} was lost and did not come back.`;
  }
  return END_WORDS[reason] || (reason ? `The call ended (${reason}).` : "The call ended.");
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** Minimal event emitter (on/off/emit); listeners that throw are logged, not fatal. */
export class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }
  off(type, fn) {
    const set = this._listeners.get(type);
    if (set) set.delete(fn);
  }
  emit(type, detail) {
    for (const key of [type, "*"]) {
      const set = this._listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(detail, type);
        } catch (err) {
          console.error(`[silkline] listener for ${type} failed`, err);
        }
      }
    }
  }
}

/** ws:// or wss:// URL of `/ws` on the given (default: this page's) origin. */
export function websocketUrl(base = location.href) {
  const url = new URL("/ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** An error that carries the protocol's stable code and a sentence for people. */
export class SilklineError extends Error {
  constructor(code, message, words) {
    super(message || code);
    this.code = code;
    this.words = words || describeError(code, message);
  }
}

let messageCounter = 0;

/**
 * One WebSocket to the server. Emits each incoming message under its `type`, plus
 * `open`, `close` ({code, reason, intentional}) and `protocol-error` for bad frames.
 */
export class SignalingClient extends Emitter {
  constructor(url, { log = () => {} } = {}) {
    super();
    this.url = url;
    this.ws = null;
    this.log = log;
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
        for (const { reject: rej } of this._pending.values()) {
          rej(new SilklineError("network", "socket closed", "The connection to the server was lost."));
        }
        this._pending.clear();
        if (this.ws === ws) this.ws = null;
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
    if (msg.type !== "candidate") this.log("recv", msg.type, summarize(msg));
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
    if (type !== "candidate") this.log("send", type, summarize(msg));
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

  /** Closes the socket on purpose (no reconnect follows). */
  close(code = CLOSE.NORMAL, reason = "") {
    this._intentionalClose = true;
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

/** Moves VP8 to the front of a video transceiver's codec list (audio is Opus by default). */
function preferVp8(transceiver) {
  if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver?.getCapabilities) return;
  const caps = RTCRtpReceiver.getCapabilities("video");
  if (!caps) return;
  const vp8 = caps.codecs.filter((c) => /\/vp8$/i.test(c.mimeType));
  if (!vp8.length) return;
  const rest = caps.codecs.filter((c) => !/\/vp8$/i.test(c.mimeType));
  try {
    transceiver.setCodecPreferences([...vp8, ...rest]);
  } catch (_) {
    /* keep the browser's order */
  }
}

/** Plays a MediaStream in a <video>/<audio> element (autoplay may wait for a gesture). */
function attachStream(element, stream) {
  if (!element) return;
  if (element.srcObject !== stream) element.srcObject = stream;
  const p = element.play();
  if (p && p.catch) p.catch(() => { /* autoplay may wait for a gesture */ });
}

/**
 * One RTCPeerConnection for one participant of one call (protocol.md, `offer`), always with
 * `bundlePolicy: "max-bundle"`. Two layouts:
 *
 *   "conversant" (shopper, agent): audio sendrecv, video sendrecv (recvonly when the local
 *     stream has no camera: a voice-only shopper), and one extra audio recvonly on which a
 *     supervisor's whisper or barge-in arrives. The other side's audio and video play in
 *     `remoteVideo`; the extra audio plays in `extraAudio`.
 *   "monitor" (supervisor): audio sendrecv (the supervisor's microphone), audio recvonly,
 *     video recvonly x2. The server binds the remote tracks in join order, shopper first:
 *     shopper audio+video play in `monitorVideos[0]`, the agent's in `monitorVideos[1]`.
 *
 * It trickles its candidates (then `null`), applies the server's answer, and calls
 * `onIceProblem` when ICE has failed, or stayed disconnected for longer than `iceGraceMs`.
 * `prepare()` may run ahead of time (while the call waits or rings) so that the offer goes out
 * the moment the call is accepted; `start(callId)` sends it.
 */
export class CallPeer {
  constructor({
    signaling,
    iceServers = [],
    localStream,
    remoteVideo = null,
    extraAudio = null,
    layout = "conversant",
    monitorVideos = [],
    onIceProblem = () => {},
    onIceState = () => {},
    iceGraceMs = 3000,
    log = () => {},
  }) {
    this.signaling = signaling;
    this.iceServers = iceServers || [];
    this.localStream = localStream;
    this.remoteVideo = remoteVideo;
    this.extraAudio = extraAudio;
    this.layout = layout;
    this.monitorVideos = monitorVideos;
    this.onIceProblem = onIceProblem;
    this.onIceState = onIceState;
    this.iceGraceMs = iceGraceMs;
    this.log = log;
    this.pc = null;
    this.callId = null;
    this.remoteStream = null; // the other side (conversant) / the shopper (monitor)
    this.streams = []; // one MediaStream per sink, see _sinks
    this.transceivers = { audio: null, video: null, extraAudio: null, list: [] };
    this._queued = []; // candidates gathered before the offer went out
    this._sentOffer = false;
    this._prepared = null;
    this._iceTimer = null;
    this._closed = false;
  }

  prepare() {
    if (!this._prepared) this._prepared = this._prepare();
    return this._prepared;
  }

  /** The sender of our camera (for replaceTrack), or null. */
  get videoSender() {
    return this.transceivers.video ? this.transceivers.video.sender : null;
  }

  async _prepare() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    const audio = this.localStream?.getAudioTracks()[0] || null;
    const video = this.localStream?.getVideoTracks()[0] || null;
    const streams = this.localStream ? [this.localStream] : [];
    // sinks: [element, ...]; route: transceiver index -> sink index
    let sinks;
    const route = [];
    const add = (trackOrKind, init, sink) => {
      const t = pc.addTransceiver(trackOrKind, init);
      this.transceivers.list.push(t);
      route.push(sink);
      if (t.receiver.track.kind === "video") preferVp8(t);
      return t;
    };
    if (this.layout === "monitor") {
      sinks = [this.monitorVideos[0] || null, this.monitorVideos[1] || null];
      this.transceivers.audio = add(audio || "audio", { direction: "sendrecv", streams }, 0);
      add("audio", { direction: "recvonly" }, 1);
      add("video", { direction: "recvonly" }, 0);
      add("video", { direction: "recvonly" }, 1);
    } else {
      sinks = [this.remoteVideo, this.extraAudio];
      this.transceivers.audio = add(audio || "audio", { direction: "sendrecv", streams }, 0);
      this.transceivers.video = add(video || "video", video ? { direction: "sendrecv", streams } : { direction: "recvonly" }, 0);
      this.transceivers.extraAudio = add("audio", { direction: "recvonly" }, 1);
    }
    this._sinks = sinks;
    this.streams = sinks.map(() => new MediaStream());
    this.remoteStream = this.streams[0];

    pc.onicecandidate = (ev) => {
      if (this._closed || this.pc !== pc) return;
      let cand = null;
      if (ev.candidate) {
        if (!ev.candidate.candidate) return; // per-generation end marker; `null` follows
        cand = {
          candidate: ev.candidate.candidate,
          sdpMid: ev.candidate.sdpMid,
          sdpMLineIndex: ev.candidate.sdpMLineIndex,
        };
      }
      if (this._sentOffer) this._sendCandidate(cand);
      else this._queued.push(cand);
    };
    pc.ontrack = (ev) => {
      if (this._closed) return;
      const index = this.transceivers.list.indexOf(ev.transceiver);
      const sink = index >= 0 ? route[index] : 0;
      const stream = this.streams[sink];
      if (!stream) return;
      for (const old of stream.getTracks()) {
        if (old.kind === ev.track.kind && old !== ev.track) stream.removeTrack(old);
      }
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      attachStream(sinks[sink], stream);
    };
    pc.oniceconnectionstatechange = () => this._onIceState(pc.iceConnectionState);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this._onIceState("failed");
    };

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
  }

  /** Sends the offer (and the candidates gathered so far) for `callId`. */
  async start(callId) {
    this.callId = callId;
    await this.prepare();
    if (this._closed) return;
    this.signaling.send("offer", { call_id: callId, sdp: this.pc.localDescription.sdp });
    this._sentOffer = true;
    const queued = this._queued;
    this._queued = [];
    for (const c of queued) this._sendCandidate(c);
  }

  _sendCandidate(candidate) {
    if (!this.signaling.isOpen) return; // the reconnect path sends a fresh offer anyway
    try {
      this.signaling.send("candidate", { call_id: this.callId, candidate });
    } catch (err) {
      this.log("candidate not sent", err);
    }
  }

  async applyAnswer(sdp) {
    if (this._closed || !this.pc) return;
    if (this.pc.signalingState !== "have-local-offer") {
      this.log("answer ignored in state", this.pc.signalingState);
      return;
    }
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  _onIceState(state) {
    if (this._closed) return;
    this.log("ice", state);
    this.onIceState(state);
    if (state === "connected" || state === "completed") {
      clearTimeout(this._iceTimer);
      this._iceTimer = null;
    } else if (state === "failed") {
      clearTimeout(this._iceTimer);
      this._iceTimer = null;
      this.onIceProblem(state);
    } else if (state === "disconnected" && !this._iceTimer) {
      this._iceTimer = setTimeout(() => {
        this._iceTimer = null;
        const now = this.pc?.iceConnectionState;
        if (!this._closed && (now === "disconnected" || now === "failed")) this.onIceProblem(now);
      }, this.iceGraceMs);
    }
  }

  /** Closes the peer connection (the local camera stays on: it belongs to the session). */
  close() {
    this._closed = true;
    clearTimeout(this._iceTimer);
    if (this.pc) {
      this.pc.onicecandidate = null;
      this.pc.ontrack = null;
      this.pc.oniceconnectionstatechange = null;
      this.pc.onconnectionstatechange = null;
      try { this.pc.close(); } catch (_) { /* ignore */ }
    }
    (this._sinks || []).forEach((el, i) => {
      if (el && el.srcObject && el.srcObject === this.streams[i]) el.srcObject = null;
    });
  }
}

/**
 * Asks for camera and microphone (or, with `video: false`, the microphone only: a voice-only
 * call needs no camera); rejects with words people understand.
 */
export async function getCameraAndMicrophone({ video = true, facingMode = null } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new SilklineError(
      "no_media",
      "getUserMedia unavailable",
      video
        ? "This browser cannot use a camera here. Video calls need a secure (https) page and a recent browser."
        : "This browser cannot use a microphone here. Calls need a secure (https) page and a recent browser."
    );
  }
  const videoConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
  if (facingMode) videoConstraints.facingMode = { ideal: facingMode };
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: video ? videoConstraints : false,
    });
  } catch (err) {
    const what = video ? "Camera and microphone" : "Microphone";
    const words = {
      NotAllowedError: `${what} access was blocked. Allow it in the browser's address bar and try again.`,
      NotFoundError: video ? "No camera or microphone was found." : "No microphone was found.",
      NotReadableError: video
        ? "The camera or microphone is in use by another application."
        : "The microphone is in use by another application.",
      OverconstrainedError: "The camera cannot provide a usable picture.",
    }[err && err.name];
    throw new SilklineError("no_media", String(err && err.message),
      words || (video ? "Could not start the camera and microphone." : "Could not start the microphone."));
  }
}

/** Just the microphone (a supervisor's voice); rejects with words. */
export function getMicrophone() {
  return getCameraAndMicrophone({ video: false });
}

/**
 * One person's presence on the server: a shopper's call, or an agent signed in.
 *
 * Emits:
 *   `state`            {state, words, reason?}  the state to show (see STATES)
 *   `joined`           the server's joined message
 *   `call-offered`     (agent) a call rings
 *   `call-withdrawn`   (agent) the ringing call went away
 *   `participant-state` the other side's state, with `words`
 *   `call-ended`       {call_id, reason, by, words}
 *   `error`            {code, words}  a refused request or a problem the page should show
 *   `local-stream`     the camera stream (for a self view)
 *   `message`          every server message (pages handle chat, photos, queue position…)
 *
 * A shopper whose call is `unavailable` keeps the socket open, so that a `callback` request
 * can follow (`requestCallback`).
 */
export const STATES = [
  "idle", "starting", "available", "away", "waiting", "ringing", "connecting", "connected",
  "reconnecting", "unavailable", "ended", "error",
];

export class CallSession extends Emitter {
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
    wrapUpMs = 5000, // agent: how long "ended" shows before "available"
    context = null, // shopper: the page the call starts from, shown to the agent (flat object)
  }) {
    super();
    this.context = context;
    this.wrapUpMs = wrapUpMs;
    this.role = role;
    this.getToken = getToken;
    this.wsUrl = wsUrl;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.extraAudio = extraAudio;
    this.media = media === "audio" ? "audio" : "video";
    this.otherName = otherName;
    this.maxRetries = maxRetries;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.debug = debug;

    this.token = null;
    this.signaling = null;
    this.peerObj = null;
    this.localStream = null;
    this.iceServers = [];
    this.callId = null;
    this.participantId = null;
    this.agentId = null;
    this.state = "idle";
    this.serverState = null; // last call-state from the server
    this.inCall = false; // from connecting until ended
    this._retry = 0;
    this._reconnecting = false;
    this._stopped = false;
    this._hangupTimer = null;
    this._mediaPromise = null;
    this._endedCalls = new Set();
    this._wrapUpTimer = null;
    this._retryTimer = null;
    this._mediaGeneration = 0;
    this.wrapUp = null; // (agent) {callId, endsAt} while the server holds us in wrap-up
    this._lastCallId = null;
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

  /** Starts the camera (once per call); the stream is shown in the self view. */
  acquireMedia() {
    if (!this._mediaPromise) {
      const generation = this._mediaGeneration;
      this._mediaPromise = getCameraAndMicrophone({ video: this.media === "video" }).then(
        (stream) => {
          if (generation !== this._mediaGeneration || (this._stopped && this.role === "shopper")) {
            // Released (call withdrawn, ended, page leaving) while the camera was starting.
            stream.getTracks().forEach((t) => t.stop());
            return null;
          }
          this.localStream = stream;
          if (this.localVideo) {
            this.localVideo.muted = true;
            this.localVideo.srcObject = stream;
            const p = this.localVideo.play();
            if (p && p.catch) p.catch(() => {});
          }
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
    if (this.localVideo) this.localVideo.srcObject = null;
  }

  /** Gets a token, opens the socket and joins. Rejects (with `.words`) if that fails. */
  async start() {
    this._stopped = false;
    this._setState("starting", this.role === "agent" ? "Signing in…" : "Starting your call…");
    if (!this.token) this.token = await this.getToken();
    await this._openAndJoin();
  }

  async _openAndJoin() {
    const sig = new SignalingClient(this.wsUrl, { log: (...a) => this.log(...a) });
    this._wire(sig);
    this.signaling = sig;
    await sig.open();
    let joined;
    try {
      joined = await sig.join(this.token, this.context ? { context: this.context } : {});
    } catch (err) {
      if (this.signaling === sig) sig.close();
      throw err;
    }
    this._onJoined(joined);
  }

  _wire(sig) {
    sig.on("call-state", (m) => this._onCallState(m));
    sig.on("call-offered", (m) => {
      clearTimeout(this._wrapUpTimer);
      this.wrapUp = null;
      this.callId = m.call_id;
      this._setState("ringing", "Incoming call", { callId: m.call_id });
      this.emit("call-offered", m);
    });
    sig.on("call-withdrawn", (m) => {
      if (this.state === "ringing" && (!this.callId || m.call_id === this.callId)) {
        this.callId = null;
        if (this.peerObj) this.peerObj.close();
        this.peerObj = null;
        this.releaseMedia();
        this._setState("available", "Available — waiting for calls");
      }
      this.emit("call-withdrawn", m);
    });
    sig.on("answer", (m) => this._onAnswer(m));
    sig.on("agent-state", (m) => this._onAgentState(m));
    sig.on("participant-state", (m) => this._onParticipantState(m));
    sig.on("call-ended", (m) => this._onCallEnded(m));
    sig.on("error", (m) => this._onServerError(m));
    sig.on("message", (m) => this.emit("message", m)); // everything, for pages that want more
    sig.on("protocol-error", (e) => this.emit("error", { code: "protocol", words: e.words }));
    sig.on("close", (info) => {
      if (this.signaling !== sig) return;
      this._onSocketClosed(info);
    });
  }

  _onJoined(m) {
    this.iceServers = Array.isArray(m.ice_servers) ? m.ice_servers : [];
    this.participantId = m.participant_id || this.participantId;
    if (m.agent_id) this.agentId = m.agent_id;
    if (m.call_id) this.callId = m.call_id;
    const wasReconnecting = this._reconnecting;
    this._reconnecting = false;
    this._retry = 0;
    this.emit("joined", m);

    const callState = m.state || null;
    if (callState === "ended") {
      this._finishCall({ call_id: this.callId, reason: m.reason || "hang_up" });
      return;
    }
    if (m.resumed && (callState === "connecting" || callState === "connected" || (!callState && this.inCall))) {
      // Back within the grace period: a fresh offer on a new peer connection.
      this.inCall = true;
      this._setState("reconnecting", "Reconnecting…");
      this._newPeerAndOffer().catch((err) => this._fail(err));
      return;
    }
    if (wasReconnecting && this.inCall && !m.resumed) {
      // We came back, but the server no longer knows us in a call.
      this._finishCall({ call_id: this.callId, reason: "peer_gone", by: this.role });
      return;
    }
    if (this.role === "agent") {
      if (callState === "ringing" && m.call_id) {
        this._setState("ringing", "Incoming call", { callId: m.call_id });
      } else {
        this._setState("available", "Available — waiting for calls");
      }
    } else {
      this._onCallState({ call_id: m.call_id, state: callState || "waiting" });
    }
  }

  _onCallState(m) {
    if (m.call_id && this.callId && m.call_id !== this.callId && this.role === "shopper") return;
    this.serverState = m.state;
    switch (m.state) {
      case "waiting":
        if (this.role === "shopper") {
          const transferred = m.reason === "transferred";
          this._setState("waiting", transferred ? "Transferring you to a colleague…" : "Waiting for an expert…",
            { reason: m.reason || null });
          this._prewarm();
        }
        break;
      case "ringing":
        if (this.role === "shopper") {
          this._setState("ringing", "An expert is being connected…");
          this._prewarm();
        }
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
        this._unavailable = { detail: m.reason, message: m.message };
        this._finishCall({
          call_id: m.call_id, reason: "unavailable", detail: m.reason, by: "server", message: m.message,
        });
        break;
      default:
        this.log("unknown call state", m.state);
    }
  }

  /** While the call waits, build the peer connection so the offer can go out at once. */
  _prewarm() {
    if (this.peerObj) return;
    this.acquireMedia()
      .then((stream) => {
        if (!stream || this.peerObj || this._stopped || this.inCall) return;
        this.peerObj = this._makePeer();
        return this.peerObj.prepare();
      })
      .catch((err) => this._fail(err));
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
        if (state === "connected" || state === "completed") this._retry = 0;
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
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
    await this._startPeer();
  }

  _onAnswer(m) {
    if (!this.peerObj) return;
    this.peerObj.applyAnswer(m.sdp).catch((err) => {
      this.log("answer failed", err);
      this.emit("error", { code: "bad_answer", words: "The server's media answer could not be used." });
      this._onIceProblem("answer-failed");
    });
  }

  /** (agent) the server's view of our availability: `available`, `away` (e.g. after a missed ring). */
  _onAgentState(m) {
    this.emit("agent-state", m);
    if (this.role !== "agent") return;
    if (m.state === "wrap_up") {
      // The server holds us in a timed wrap-up after a call; it says when we are available.
      this.wrapUp = {
        callId: m.call_id || this._lastCallId,
        endsAt: typeof m.wrap_up_s === "number" ? Date.now() + m.wrap_up_s * 1000 : null,
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
        this._setState("available", "Available — waiting for calls");
      }
    } else if (m.state === "away" && this.state !== "away") {
      this.wrapUp = null;
      this._setState("away", "Away — not taking calls");
    }
  }

  /** (agent) `set-state`: "available" to take calls, "away" for a break. */
  setAvailability(state) {
    this.signaling.send("set-state", { state });
  }

  _onParticipantState(m) {
    const other = this.otherName;
    const words = {
      connected: `${capitalize(other)} is connected.`,
      reconnecting: `${capitalize(other)} lost the connection — waiting for them to come back${m.grace_s ? ` (up to ${m.grace_s} s)` : ""}…`,
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
    this.emit("error", { code: m.code, words: m.words, message: m.message, ref: m.ref });
    if (m.ref && m.ref === this._acceptRef && this.role === "agent" && !this.inCall) {
      // The call went to somebody else, or ended, before our accept arrived.
      this._acceptRef = null;
      if (this.peerObj) this.peerObj.close();
      this.peerObj = null;
      this.releaseMedia();
      this.callId = null;
      this._setState("available", "Available — waiting for calls");
      return;
    }
    if (m.code === "unauthorized") {
      this._stopped = true;
      this._fail(new SilklineError(m.code, m.message, m.words));
    } else if ((m.code === "call_not_found") && this.inCall) {
      this._finishCall({ call_id: this.callId, reason: "peer_gone" });
    } else if (m.code === "bad_sdp" && this.inCall) {
      this._fail(new SilklineError(m.code, m.message, m.words));
    }
  }

  _onCallEnded(m) {
    this._finishCall(m);
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
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
    // Who hung up, when the server does not say: us if we sent `hangup`, else the other side.
    const by = m.by || (m.reason === "hang_up" ? (this._hungUp ? this.role : "other") : undefined);
    this._hungUp = false;
    let words = describeEnd(m.reason, { by, me: this.role, other: this.otherName, detail: m.detail });
    if (m.reason === "unavailable" && m.message) words = m.message;
    this.releaseMedia();
    const unavailable = m.reason === "unavailable" && this.role === "shopper";
    this._setState(unavailable ? "unavailable" : "ended", words,
      { reason: m.reason || null, by: m.by || null, callId: endedId, detail: m.detail || null });
    this.emit("call-ended", { ...m, words });
    if (this.role === "shopper") {
      // A shopper token names one call: the socket has nothing left to do, unless a callback
      // request may still follow (unavailable) or is being answered (callback).
      this._stopped = true;
      if (!unavailable && m.reason !== "callback") this._leaveSocket();
    } else {
      // An agent stays signed in: after a short wrap-up the console shows "available" again
      // (a new call that rings meanwhile takes over at once).
      this._lastCallId = endedId || this.callId;
      this.callId = null;
      clearTimeout(this._wrapUpTimer);
      if (!this.wrapUp) {
        // A server without wrap-up takes calls again at once; show "ended" for a moment.
        this._wrapUpTimer = setTimeout(() => this.ready(), this.wrapUpMs);
      }
    }
  }

  _leaveSocket() {
    const sig = this.signaling;
    if (!sig) return;
    if (sig.isOpen) {
      try { sig.send("leave"); } catch (_) { /* ignore */ }
    }
    sig._intentionalClose = true;
    // The server closes the socket after `leave`; close it ourselves if it does not.
    setTimeout(() => sig.close(), 2000);
  }

  /**
   * (agent) back to "available" after a call. In a server wrap-up this sends `wrap-up` with the
   * call's outcome (the server answers `agent-state{available}`); otherwise it is local.
   */
  ready({ disposition = "", notes = "" } = {}) {
    clearTimeout(this._wrapUpTimer);
    if (this._stopped || !this.signaling || !this.signaling.isOpen) return;
    if (this.wrapUp && this.wrapUp.callId) {
      this.signaling.send("wrap-up", { call_id: this.wrapUp.callId, disposition, notes });
      return;
    }
    if (this.state === "ended") this._setState("available", "Available — waiting for calls");
  }

  /** Sends one protocol message (chat, snapshot, transfer…); throws in words if offline. */
  sendMessage(type, fields = {}) {
    if (!this.signaling || !this.signaling.isOpen) {
      throw new SilklineError("network", "socket not open", "Not connected to the server. Please wait a moment.");
    }
    return this.signaling.send(type, fields);
  }

  /**
   * (shopper) leave a callback request instead of waiting, or after `unavailable`. Resolves
   * when the server stored it (`callback-accepted`); rejects with `.words`.
   */
  async requestCallback({ name, contact, question = "" }) {
    const sig = this.signaling;
    if (!sig || !sig.isOpen || !this.callId) {
      throw new SilklineError("network", "socket not open",
        "The connection to the service was lost, so the request could not be sent. Please try again later.");
    }
    const reply = await sig.request("callback", { call_id: this.callId, name, contact, question }, "callback-accepted");
    this._stopped = true;
    this._leaveSocket();
    return reply;
  }

  /** Swaps the camera track (front/back camera) on the live call and in the self view. */
  async replaceVideoTrack(track) {
    const stream = this.localStream;
    if (!stream) throw new SilklineError("no_media", "no stream", "The camera is not on.");
    const old = stream.getVideoTracks()[0] || null;
    if (old) track.enabled = old.enabled;
    const sender = this.peerObj ? this.peerObj.videoSender : null;
    if (sender) await sender.replaceTrack(track);
    if (old) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    if (this.localVideo) {
      this.localVideo.srcObject = stream;
      const p = this.localVideo.play();
      if (p && p.catch) p.catch(() => {});
    }
    this.emit("local-stream", stream);
  }

  /** (agent) take the offered call. */
  accept(callId) {
    this.callId = callId;
    this.acquireMedia()
      .then((stream) => {
        if (stream && !this.peerObj && this.callId === callId && !this._stopped) {
          this.peerObj = this._makePeer();
          return this.peerObj.prepare();
        }
      })
      .catch((err) => this._fail(err));
    this._setState("connecting", "Accepting…", { callId });
    this._acceptRef = this.signaling.send("accept", { call_id: callId });
  }

  /** (agent) refuse the offered call. */
  decline(callId) {
    this.signaling.send("decline", { call_id: callId });
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
    this.releaseMedia();
    this.callId = null;
    this._setState("available", "Available — waiting for calls");
  }

  /** Ends the call (or gives up waiting). The server confirms with `call-ended`. */
  hangup() {
    const id = this.callId;
    if (!id || this.state === "ended") return;
    this._hungUp = true;
    if (this.signaling && this.signaling.isOpen) {
      try {
        this.signaling.send("hangup", { call_id: id });
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
    this._reconnecting = false;
    clearTimeout(this._retryTimer);
    const sig = this.signaling;
    if (sig && sig.isOpen) {
      try { sig.send("leave"); } catch (_) { /* ignore */ }
    }
    if (sig) sig.close();
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
    this.releaseMedia();
  }

  _fail(err) {
    const words = (err && err.words) || "Something went wrong.";
    this.log("fail", err);
    this.inCall = false;
    this._reconnecting = false;
    clearTimeout(this._retryTimer);
    if (this.peerObj) this.peerObj.close();
    this.peerObj = null;
    this.releaseMedia();
    this._stopped = true;
    if (this.signaling) {
      const sig = this.signaling;
      if (sig.isOpen) {
        try { sig.send("leave"); } catch (_) { /* ignore */ }
      }
      sig.close();
    }
    this._setState("error", words, { code: err && err.code });
  }

  // --- reconnection -------------------------------------------------------------------

  _onIceProblem(state) {
    if (!this.inCall || this._stopped) return;
    this.log("media problem", state);
    if (this.signaling && this.signaling.isOpen) {
      // The socket is fine: a fresh offer replaces the peer connection (protocol: `offer`).
      if (this._retry >= this.maxRetries) {
        this._fail(new SilklineError("network", "ice", "The video connection failed and could not be restored."));
        return;
      }
      this._retry += 1;
      this._setState("reconnecting", "Reconnecting…", { attempt: this._retry });
      const delay = this._backoff(this._retry - 1);
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
    if (info.intentional || this._stopped) return;
    if (info.code === CLOSE.UNAUTHORIZED) {
      this._fail(new SilklineError("unauthorized", info.reason, describeError("unauthorized", info.reason)));
      return;
    }
    if (this.role === "shopper" && (this.state === "ended" || this.state === "idle")) return;
    if (this.peerObj) {
      // Media may still flow; the resumed join brings a new peer connection anyway.
      this.peerObj.close();
      this.peerObj = null;
    }
    this._scheduleReconnect();
  }

  _backoff(n) {
    const base = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** n);
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  _scheduleReconnect() {
    if (this._stopped) return;
    if (this._retry >= this.maxRetries) {
      this._fail(new SilklineError("network", "reconnect failed", "The connection was lost and could not be restored."));
      return;
    }
    this._reconnecting = true;
    const attempt = ++this._retry;
    const delay = this._backoff(attempt - 1);
    this._setState("reconnecting", `Reconnecting… (attempt ${attempt} of ${this.maxRetries})`, { attempt });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(async () => {
      if (this._stopped) return;
      try {
        if (this.signaling) this.signaling.close();
        await this._openAndJoin();
      } catch (err) {
        this.log("reconnect attempt failed", err);
        if (err && (err.code === "unauthorized" || err.code === "forbidden")) {
          this._fail(err);
        } else if (err && err.code === "call_not_found") {
          this._finishCall({ call_id: this.callId, reason: "peer_gone" });
        } else {
          this._scheduleReconnect();
        }
      }
    }, delay);
  }
}
