// The agent console's one state object, its elements and its components (chat log, callback
// list), and render(): the DOM written from the state. Handlers change the state, then render.

import { ChatLog } from "../components/chat-log.js";
import { QuickReplies } from "../components/quick-replies.js";
import { renderMediaLabel, renderToggle } from "../components/video-tile.js";
import { h } from "../dom.js";
import { agentStateWords, clock, queueName, timeOfDay } from "../words.js";
import { CallbackList } from "./callbacks.js";

export const $ = (id) => document.getElementById(id);
export const el = {
  who: $("who"), whoName: $("who-name"), agentState: $("agent-state"),
  availability: $("availability"), setAvailable: $("set-available"), setAway: $("set-away"),
  state: $("call-state"), error: $("error"),
  signin: $("signin"), demoForm: $("demo-form"), nameInput: $("name-input"), demoHint: $("demo-hint"),
  tokenDetails: $("token-details"), signinForm: $("signin-form"), tokenInput: $("token-input"),
  accountUsername: $("sign-in-username"), signOut: $("sign-out"),
  idle: $("idle-panel"), idleTitle: $("idle-title"), idleNote: $("idle-note"), lastCall: $("last-call"),
  incoming: $("incoming"), incomingKind: $("incoming-kind"), incomingWaited: $("incoming-waited"),
  incomingBadges: $("incoming-badges"), context: $("context"), accept: $("accept"), decline: $("decline"),
  callPanel: $("call-panel"), callBadges: $("call-badges"), callContext: $("call-context"),
  remote: $("remote-video"), local: $("local-video"), supervisorAudio: $("supervisor-audio"),
  superNotice: $("super-notice"), rec: $("recording-indicator"), remoteMedia: $("remote-media-state"), stageNote: $("stage-note"),
  peerState: $("peer-state"), mute: $("mute"), camera: $("camera"), snapshot: $("snapshot"),
  pauseRec: $("pause-rec"), resumeRec: $("resume-rec"), hangup: $("hang-up"), callTimer: $("call-timer"),
  chatLog: $("chat-log"), chatForm: $("chat-form"), chatInput: $("chat-input"), photoInput: $("photo-input"),
  transferForm: $("transfer-form"), transferTarget: $("transfer-target"), transferQueues: $("transfer-queues"),
  transferAgents: $("transfer-agents"), transferError: $("transfer-error"),
  ringHistory: $("ring-history-list"), ringHistoryNote: $("ring-history-note"),
  callHistory: $("call-history-list"), callHistoryNote: $("call-history-note"),
  ended: $("ended-panel"), endedTitle: $("ended-title"), endedReason: $("ended-reason"),
  endedSummary: $("ended-summary"), ready: $("ready"), wrapUpForm: $("wrap-up-form"),
  wrapUpTimer: $("wrap-up-timer"), disposition: $("disposition"), notes: $("notes"),
  queuesCard: $("queues-card"), queuesAt: $("queues-at"), queuesBody: $("queues-body"),
  history: $("history-list"),
  statCalls: $("stat-calls"), statTalk: $("stat-talk"), statCallbacks: $("stat-callbacks"),
};
export const baseTitle = document.title;

export const STATE_WORDS = {
  idle: "Not signed in",
  starting: "Signing in…",
  available: "Available — waiting for calls",
  away: "Away — not taking calls",
  ringing: "Incoming call",
  connecting: "Connecting…",
  connected: "In a call",
  reconnecting: "Reconnecting…",
  ended: "Call ended",
  error: "Signed out",
};
export const STAGE_NOTES = { connecting: "Connecting video…", reconnecting: "Reconnecting…" };
export const IN_CALL = new Set(["connecting", "connected", "reconnecting"]);
export const DEMO_HINT = el.demoHint.textContent;

/** Everything the console shows. Handlers change it; render() writes it. */
export const state = {
  presence: null, // the AgentPresence of this sign-in
  agentName: null,
  call: "idle", // the console's state: the presence's, or idle/starting/error around it
  words: "Not signed in",
  history: ["idle"],
  agentState: "offline", // the server's view of this agent (agent-state)
  joined: false,
  signInOpen: true,
  demoHint: DEMO_HINT,
  error: "",
  offered: null, // the call-offered message (+ receivedAt)
  answering: false, // accept/decline clicked, the server has not answered yet
  current: null, // the call in progress (+ connectedAt)
  recording: "off",
  peer: { state: "", words: "" },
  supervisor: null, // {mode, words} while a supervisor whispers or barged in
  muted: false,
  cameraOff: false,
  remoteMedia: null, // the shopper's announced {audio, video} (media-state)
  snapshotBusy: false,
  hangingUp: false,
  wrapUpSending: false,
  lastCall: null,
  endedTitle: "Call ended",
  endedReason: "",
  endedSummary: "",
  queues: null,
  stats: { calls: 0, talkS: 0, callbacks: null },
  log: [], // this session's history, newest first: {at, text}
  refs: { snapshot: null, recording: null },
};

export const inCall = () => IN_CALL.has(state.call);
export const wrapUp = () => (state.presence ? state.presence.wrapUp : null);

export const chat = new ChatLog(el.chatLog, {
  itemClass: (m) => `msg ${m.role === "agent" ? "mine" : "theirs"}`,
  whoLine: (m) => `${whoSaid(m)} · ${timeOfDay(m.at)}`,
  photoAlt: (m) => (m.kind === "snapshot" ? "Snapshot of the shopper's video" : `Photo from ${whoSaid(m)}`),
  photoTestId: (m) => (m.kind === "snapshot" ? "chat-snapshot" : "chat-photo"),
  photoCaption: (m) => (m.kind === "snapshot" ? "Snapshot" : "Photo"),
  photoLink: true,
  token: () => state.presence && state.presence.token,
});

// the chat box's quick replies: those of the current call's queue (components/quick-replies.js)
export const quickReplies = new QuickReplies({
  form: el.chatForm, input: el.chatInput, token: () => state.presence && state.presence.token,
});

export const callbacks = new CallbackList({
  card: $("callbacks-card"), count: $("callbacks-count"), list: $("callbacks-list"),
  onCount: (n) => { state.stats.callbacks = n; render(); },
  onDone: (cb) => addHistory(`Callback to ${cb.name || "a shopper"} marked done.`),
  onError: (words) => setError(words),
});

export function whoSaid(m) {
  if (m.role === "agent" && (!m.name || m.name === state.agentName)) return "You";
  if (m.role === "shopper") return m.name ? `${m.name} (shopper)` : "Shopper";
  if (m.role === "supervisor") return `${m.name || "Supervisor"} (supervisor)`;
  return m.name || m.role || "";
}

export function setError(words) {
  state.error = words || "";
  render();
}

export function addHistory(text) {
  state.log.unshift({ at: timeOfDay(), text });
  render();
}

// --- render -----------------------------------------------------------------------------

export function render() {
  const st = state.call;
  const live = inCall();
  el.error.textContent = state.error;
  el.state.dataset.state = st;
  el.state.textContent =
    st === "ended" ? `Call ended — ${state.words || ""}`.trim()
    : st === "reconnecting" ? state.words || STATE_WORDS.reconnecting
    : STATE_WORDS[st] || state.words || st;
  document.body.dataset.state = st;
  quickReplies.show(live && state.presence ? state.presence.callId : null);
  document.title = st === "ringing" ? `📞 Incoming call — ${baseTitle}` : baseTitle;

  el.signin.hidden = !state.signInOpen;
  el.demoHint.textContent = state.demoHint;
  el.who.hidden = !state.joined;
  el.whoName.textContent = state.agentName || "";
  el.agentState.dataset.state = state.agentState;
  el.agentState.textContent = agentStateWords(state.agentState);
  renderAvailability();

  const away = st === "away";
  el.idle.hidden = !(st === "available" || away);
  el.idleTitle.textContent = away ? "Away — not taking calls" : "Available — waiting for calls";
  el.idleNote.textContent = away
    ? "Calls will not ring here until you choose Available."
    : "Calls ring here. Keep this tab open; you can use other tabs meanwhile.";
  el.lastCall.hidden = !state.lastCall;
  el.lastCall.textContent = state.lastCall || "";
  el.statCalls.textContent = String(state.stats.calls);
  el.statTalk.textContent = clock(state.stats.talkS);
  el.statCallbacks.textContent = state.stats.callbacks === null ? "–" : String(state.stats.callbacks);

  el.incoming.hidden = st !== "ringing";
  el.incomingKind.textContent = state.offered && state.offered.audio_only ? "Incoming voice call" : "Incoming video call";
  el.accept.disabled = state.answering;
  el.decline.disabled = state.answering;
  renderWaited();

  el.callPanel.hidden = !live;
  const voice = !!(state.current && state.current.audio_only);
  const note = STAGE_NOTES[st] || (voice && st === "connected" ? "Voice-only call — the shopper has no camera on." : "");
  el.stageNote.textContent = note;
  el.stageNote.hidden = !note;
  el.stageNote.classList.toggle("soft", !STAGE_NOTES[st]);
  el.peerState.dataset.state = state.peer.state || "";
  el.peerState.textContent = state.peer.words || "";
  el.superNotice.hidden = !state.supervisor;
  el.superNotice.textContent = state.supervisor ? state.supervisor.words : "";
  if (state.supervisor) el.superNotice.dataset.mode = state.supervisor.mode;
  renderToggle(el.mute, state.muted, "Mute", "Unmute");
  renderToggle(el.camera, state.cameraOff, "Camera off", "Camera on");
  el.snapshot.hidden = voice;
  el.snapshot.disabled = state.snapshotBusy;
  el.hangup.disabled = state.hangingUp;
  el.hangup.textContent = state.hangingUp ? "Ending…" : "Hang up";
  renderRecording();
  renderCallTimer();
  renderMediaLabel(el.remoteMedia, inCall() ? state.remoteMedia : null);

  el.ended.hidden = st !== "ended";
  el.endedTitle.textContent = state.endedTitle;
  el.endedReason.textContent = state.endedReason;
  el.endedSummary.textContent = state.endedSummary;
  el.ready.disabled = state.wrapUpSending;
  renderWrapUpTimer();

  el.history.replaceChildren(...(state.log.length
    ? state.log.map((e) => h("li", {}, h("time", {}, e.at), ` ${e.text}`))
    : [h("li", { class: "empty" }, "No calls yet.")]));
}

export function renderAvailability() {
  const a = state.agentState;
  el.availability.hidden = !(state.presence && a !== "offline" && state.call !== "error");
  const busy = a === "ringing" || a === "busy";
  el.setAvailable.setAttribute("aria-pressed", String(a === "available"));
  el.setAway.setAttribute("aria-pressed", String(a === "away"));
  el.setAvailable.disabled = busy || a === "available";
  el.setAway.disabled = busy || a === "away";
  el.setAvailable.title = a === "wrap_up" ? "Skip the rest of the wrap-up and take calls" : "";
}

export function renderRecording() {
  const live = inCall();
  const on = state.recording === "on" && live;
  const paused = state.recording === "paused" && live;
  el.rec.hidden = !(on || paused);
  el.rec.dataset.state = on ? "on" : paused ? "paused" : "off";
  el.rec.textContent = on ? "● Recording" : paused ? "Recording paused" : "";
  el.pauseRec.hidden = !on;
  el.resumeRec.hidden = !paused;
}

export function renderCallTimer() {
  const at = state.current && state.current.connectedAt;
  el.callTimer.textContent = at && inCall() ? clock((Date.now() - at) / 1000) : "";
}

export function renderWaited() {
  const o = state.offered;
  if (!o || state.call !== "ringing") return;
  el.incomingWaited.textContent = `Waited ${clock((o.waited_s || 0) + (Date.now() - o.receivedAt) / 1000)}`;
}

/** The wrap-up countdown ("available again in 7 s") while the server holds us in wrap-up. */
export function renderWrapUpTimer() {
  const w = wrapUp();
  const shown = !!(w && w.endsAt && state.call === "ended");
  el.wrapUpTimer.hidden = !shown;
  if (shown) {
    if (w.paused) {
      el.wrapUpTimer.textContent = `Wrap-up paused while you type (${Math.ceil(w.leftS || 0)} s left).`;
    } else {
      const left = Math.max(0, Math.ceil((w.endsAt - Date.now()) / 1000));
      el.wrapUpTimer.textContent = `Wrap-up time: you will be available again in ${left} s.`;
    }
  }
}

export function renderQueues(queues) {
  if (!Array.isArray(queues) || !queues.length) {
    el.queuesCard.hidden = true;
    return;
  }
  el.queuesCard.hidden = false;
  el.queuesAt.textContent = `As at sign-in, ${timeOfDay()}.`;
  el.queuesBody.replaceChildren(...queues.map((q) => h("tr", {},
    h("th", { scope: "row" }, queueName(q.queue)),
    h("td", {}, String(q.waiting ?? 0)),
    h("td", {}, q.waiting ? clock(q.longest_wait_s) : "–"),
    h("td", {}, `${q.agents_available ?? 0} of ${q.agents_signed_in ?? 0}`))));
}

// Clocks move on between events.
setInterval(() => {
  renderCallTimer();
  renderWaited();
  renderWrapUpTimer();
}, 1000);

// --- state changes ------------------------------------------------------------------------

/** The console's state changes: the side effects of entering a state, then render. */
export function setCallState(st, words) {
  const was = state.call;
  if (st !== state.history[state.history.length - 1]) state.history.push(st);
  state.call = st;
  state.words = words;
  state.hangingUp = false;
  if (st === "connected") state.error = ""; // earlier hiccups are over
  if (st === "connected" && state.current && !state.current.connectedAt) state.current.connectedAt = Date.now();
  if (st === "ringing") state.answering = false;
  if (st === "ended") Object.assign(state, { wrapUpSending: false, endedReason: words || "" });
  if (st === "available") state.peer = { state: "", words: "" };
  if (st === "error") state.error = words || "Something went wrong.";
  render();

  if (st === "ringing") {
    const active = document.activeElement;
    if (!active || active === document.body || el.incoming.contains(active) || active.tagName === "BUTTON") {
      el.accept.focus();
    }
  }
  if (st === "ended" && was !== "ended") {
    el.disposition.selectedIndex = 0;
    el.notes.value = "";
    el.disposition.focus();
  }
  if (st === "available" && (el.ended.contains(document.activeElement) || el.callPanel.contains(document.activeElement))) {
    el.idleTitle.focus();
  }
}

export function setAgentState(agentState) {
  state.agentState = agentState || "offline";
  render();
}

/** A new call on screen: no chat, no toggles, no notices from the last one. */
export function resetCall() {
  chat.clear();
  Object.assign(state, {
    muted: false, cameraOff: false, remoteMedia: null, peer: { state: "", words: "" }, supervisor: null, recording: "off",
    snapshotBusy: false,
  });
}
