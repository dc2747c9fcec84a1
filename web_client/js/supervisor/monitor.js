// Monitoring one call: its own peer connection (the supervisor's microphone out; both sides'
// audio and video in), the mode (silent, whisper to the agent, barge in), and the call's chat.

import { getMicrophone } from "../call/media.js";
import { CallPeer } from "../call/peer.js";
import { describeEnd } from "../call/protocol.js";
import { AnnotationCanvas, AnnotationLayer } from "../components/annotation-layer.js";
import { ChatLog } from "../components/chat-log.js";
import { renderToggle, setTracksEnabled } from "../components/video-tile.js";
import { clock, queueName, timeOfDay } from "../words.js";
import { renderBoard, shopperLabel } from "./live-board.js";
import { agentLabel, announce, el, elapsed, setError, state } from "./page.js";

const log = (...a) => { if (new URLSearchParams(location.search).has("debug")) console.log("[silkline supervisor]", ...a); };

const whoSaid = (m) => (m.role === "supervisor" ? (m.name || "You") : m.role === "agent" ? (m.name || "Agent")
  : m.name ? `${m.name} (shopper)` : "Shopper");

const chat = new ChatLog(el.monitorChat, {
  itemClass: (m, kind) => (kind === "chat" ? `msg role-${m.role}` : "msg"),
  whoLine: (m, kind) => `${whoSaid(m)} · ${timeOfDay(m.at)}${kind === "photo" ? ` · ${m.kind === "snapshot" ? "snapshot" : "photo"}` : ""}`,
  photoAlt: (m) => `${m.kind === "snapshot" ? "Snapshot" : "Photo"} from ${whoSaid(m)}`,
  photoSize: "none",
  lazy: true,
  token: () => state.token,
});

// The marks drawn on the shopper's video (by the agent or the shopper), over the shopper's tile.
const marks = new AnnotationLayer({ target: "shopper" });
const marksView = new AnnotationCanvas({ canvas: document.getElementById("marks-shopper"), layer: marks,
  source: () => el.videoShopper });
marksView.watch(el.videoShopper);
el.videoShopper.addEventListener("resize", () => marksView.request());

const MODE_WORDS = {
  silent: "Silent: you see and hear both sides. Nobody hears you.",
  whisper: "Whisper: only the agent hears you. The shopper does not.",
  barge: "Barge in: the shopper and the agent both hear you.",
};

export class Monitor {
  constructor(callId) {
    this.callId = callId;
    this.mode = "silent";
    this.peer = null;
    this.mic = null;
    this.closed = false;
    this.retries = 0;
    this.micMuted = false;
    this.moving = false; // the call's media is moving to a new room (`migrated`)
  }

  async start() {
    el.monitor.hidden = false;
    el.monitorTitle.textContent = "Monitoring a call";
    chat.clear();
    marks.clear();
    this.showCall();
    this.renderMode("silent", "Starting…");
    el.monitorTitle.focus();
    // The microphone (for whisper and barge-in) is asked for now: a click started this.
    try {
      this.mic = await getMicrophone();
    } catch (err) {
      this.mic = null;
      this.micProblem = err.words || "No microphone: you can watch and listen, but not speak.";
    }
    if (this.closed) return this.releaseMic();
    const reply = await state.session.request("monitor", { call_id: this.callId }, "monitoring");
    if (this.closed) return undefined;
    this.onMonitoring(reply);
    await this.newPeer();
    return undefined;
  }

  async newPeer() {
    if (this.peer) this.peer.close();
    this.peer = new CallPeer({
      signaling: state.session.signaling,
      iceServers: state.iceServers,
      localStream: this.mic,
      layout: "monitor",
      monitorVideos: [el.videoShopper, el.videoAgent],
      onIceProblem: () => this.onIceProblem(),
      onIceState: (ice) => {
        if ((ice === "connected" || ice === "completed") && this.moving) {
          this.moving = false;
          this.renderMode(this.mode);
        }
      },
      log,
    });
    await this.peer.start(this.callId);
  }

  /** The call's media moved to a new room (another server): monitoring goes on over a new peer
   *  connection with the same microphone; "Reconnecting…" until its ICE connects. */
  onMigrated(m) {
    if (m.call_id !== this.callId || this.closed) return;
    this.moving = true;
    this.retries = 0;
    this.renderMode(this.mode, "Reconnecting…");
    this.newPeer().catch((err) => setError(err.words || String(err)));
  }

  onIceProblem() {
    if (this.closed) return;
    if (this.retries >= 3) {
      setError("The monitoring connection failed and could not be restored.");
      this.stop();
      return;
    }
    this.retries += 1;
    setTimeout(() => !this.closed && this.newPeer().catch((err) => setError(err.words || String(err))), 500 * this.retries);
  }

  onAnswer(m) {
    if (m.call_id !== this.callId || !this.peer) return;
    this.peer.applyAnswer(m.sdp, m.ref).catch((err) => {
      log("answer failed", err);
      setError("The server's media answer could not be used.");
    });
  }

  onMonitoring(m) {
    if (m.call_id !== this.callId) return;
    this.mode = m.mode || "silent";
    if (m.context) this.context = m.context;
    // joining mid-call: the chat and photos so far, oldest first (then the live ones follow)
    if (Array.isArray(m.conversation)) {
      chat.clear();
      for (const item of m.conversation) {
        if (item.type === "chat") chat.addChat(item);
        else if (item.type === "photo") chat.addPhoto(item);
      }
    }
    this.showCall();
    this.renderMode(this.mode);
  }

  showCall() {
    const c = state.board && (state.board.calls || []).find((x) => x.call_id === this.callId);
    const ctx = this.context || (c && c.context) || {};
    const agentName = c && c.agent_id ? c.agent_name || agentLabel(c.agent_id) : "Agent";
    this.agentName = agentName;
    el.labelAgent.textContent = `Agent · ${agentName}`;
    el.labelShopper.textContent = c ? `Shopper · ${shopperLabel(c)}` : "Shopper";
    const who = c ? shopperLabel(c) : "a shopper";
    const bits = [ctx.title, c ? `${queueName(c.queue)} queue` : null, c && c.duration_s !== null && c.duration_s !== undefined ? `talking for ${clock(c.duration_s + elapsed())}` : null];
    el.monitorSub.textContent = [`with ${who}`, ...bits].filter(Boolean).join(" · ");
    const voice = ctx.media === "audio";
    el.noteShopper.hidden = !voice;
    el.noteShopper.textContent = voice ? "Voice-only call: the shopper has no camera on." : "";
  }

  renderMode(mode, pending) {
    for (const b of el.modeButtons) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
      b.disabled = !!pending || ((b.dataset.mode !== "silent") && !this.mic && !pending);
    }
    el.modeWords.dataset.mode = mode;
    let words = pending || MODE_WORDS[mode] || mode;
    if (!this.mic && this.micProblem && !pending) words += ` ${this.micProblem}`;
    el.modeWords.textContent = words;
    el.monitor.dataset.mode = mode;
    const barge = mode === "barge";
    el.monitorChatInput.disabled = !barge;
    el.monitorChatSend.disabled = !barge;
    el.monitorChatInput.placeholder = barge ? "Write to the shopper and the agent…" : "Barge in to write in this call";
    el.micToggle.hidden = !this.mic;
    renderToggle(el.micToggle, this.micMuted, "Mute my microphone", "Unmute my microphone");
  }

  async setMode(mode) {
    if (mode === this.mode || this.closed) return;
    const previous = this.mode;
    this.renderMode(previous, "Changing…");
    try {
      const reply = await state.session.request("monitor-mode", { call_id: this.callId, mode }, "monitoring");
      this.onMonitoring(reply);
    } catch (err) {
      this.renderMode(previous);
      setError(err.words || "Could not change the mode.");
    }
  }

  onChat(m) {
    if (m.call_id === this.callId) chat.addChat(m);
  }

  onAnnotation(m) {
    if (m.call_id !== this.callId) return;
    marks.add(m);
    marksView.request();
  }

  onPhoto(m) {
    if (m.call_id === this.callId) chat.addPhoto(m);
  }

  onBoard() {
    if (!this.closed) this.showCall();
  }

  onCallEnded(m) {
    if (m.call_id !== this.callId) return;
    const words = m.reason === "monitor_end" ? "You stopped monitoring." : `The call ended: ${describeEnd(m.reason, { by: m.by, other: "the other side" })}`;
    this.close();
    el.modeWords.textContent = words;
    setError("");
    announce(words);
  }

  lost(words) {
    this.close();
    announce(words);
  }

  stop() {
    if (this.closed) return;
    try {
      if (state.session && state.session.isOpen) state.session.send("unmonitor", { call_id: this.callId });
    } catch (_) { /* closed below anyway */ }
    this.close();
    announce("You stopped monitoring.");
  }

  releaseMic() {
    if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
    this.mic = null;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.peer) this.peer.close();
    this.peer = null;
    this.releaseMic();
    chat.clear();
    marks.clear();
    marksView.request();
    el.videoShopper.srcObject = null;
    el.videoAgent.srcObject = null;
    el.monitor.hidden = true;
    if (state.monitor === this) state.monitor = null;
    renderBoard();
  }
}

export async function startMonitor(callId) {
  setError("");
  if (!state.session || !state.session.isOpen) {
    setError("Not connected to the server.");
    return;
  }
  if (state.monitor) {
    if (state.monitor.callId === callId) return;
    state.monitor.stop();
  }
  const m = new Monitor(callId);
  state.monitor = m;
  renderBoard();
  try {
    await m.start();
  } catch (err) {
    setError(err.words || "Could not start monitoring.");
    m.close();
  }
}

for (const b of el.modeButtons) {
  b.addEventListener("click", () => state.monitor && state.monitor.setMode(b.dataset.mode));
}
el.stopMonitoring.addEventListener("click", () => state.monitor && state.monitor.stop());
el.micToggle.addEventListener("click", () => {
  const m = state.monitor;
  if (!m || !m.mic) return;
  m.micMuted = !m.micMuted;
  setTracksEnabled(m.mic, "audio", !m.micMuted);
  m.renderMode(m.mode);
});
el.monitorChatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.monitorChatInput.value.trim();
  if (!text || !state.monitor) return;
  try {
    state.session.send("chat", { call_id: state.monitor.callId, text });
    el.monitorChatInput.value = "";
  } catch (err) {
    setError(err.words);
  }
});
