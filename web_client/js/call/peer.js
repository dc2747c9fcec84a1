// One RTCPeerConnection for one participant of one call: offer, answer, trickled candidates,
// where the remote tracks play, and a watch on ICE that reports a connection that stays broken.

import { attachStream } from "../components/video-tile.js";

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
    this._offerId = null; // the id of the offer sent last: only its answer is applied
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

  /** The sender of our microphone (for replaceTrack), or null. */
  get audioSender() {
    return this.transceivers.audio ? this.transceivers.audio.sender : null;
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
    this._offerId = this.signaling.send("offer", { call_id: callId, sdp: this.pc.localDescription.sdp });
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

  /** `ref` (protocol: the offer's id) tells an answer to this peer's offer from a late one to an
   *  offer an earlier peer connection made before a move replaced it. */
  async applyAnswer(sdp, ref) {
    if (this._closed || !this.pc) return;
    if (ref && this._offerId && ref !== this._offerId) {
      this.log("answer to an earlier offer ignored", ref);
      return;
    }
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

