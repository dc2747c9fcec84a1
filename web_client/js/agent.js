// Silkline agent console: sign in, take calls, talk face to face, chat and photos, transfer,
// wrap up, and work through callback requests.
//
// The page composes the shared pieces (sign-in, chat log, the agent's presence on the server)
// around one state object; `render()` writes the DOM from it, handlers change the state.
//
// Query parameters: ?name=Ann (sign in at once with a demo token under this name),
// ?debug (log protocol traffic to the console).

import { renderBadges, renderContext } from "./agent/call-context.js";
import { CallbackList } from "./agent/callbacks.js";
import { AgentPresence } from "./call/agent-presence.js";
import { ChatLog } from "./components/chat-log.js";
import { SignIn } from "./components/sign-in.js";
import { renderToggle, setTracksEnabled } from "./components/video-tile.js";
import { h } from "./dom.js";
import { demoToken, uploadPhoto } from "./rest.js";
import { agentStateWords, clock, queueName, timeOfDay } from "./words.js";

const params = new URLSearchParams(location.search);
const debug = params.has("debug");

const $ = (id) => document.getElementById(id);
const el = {
  who: $("who"), whoName: $("who-name"), agentState: $("agent-state"),
  availability: $("availability"), setAvailable: $("set-available"), setAway: $("set-away"),
  state: $("call-state"), error: $("error"),
  signin: $("signin"), demoForm: $("demo-form"), nameInput: $("name-input"), demoHint: $("demo-hint"),
  tokenDetails: $("token-details"), signinForm: $("signin-form"), tokenInput: $("token-input"),
  idle: $("idle-panel"), idleTitle: $("idle-title"), idleNote: $("idle-note"), lastCall: $("last-call"),
  incoming: $("incoming"), incomingKind: $("incoming-kind"), incomingWaited: $("incoming-waited"),
  incomingBadges: $("incoming-badges"), context: $("context"), accept: $("accept"), decline: $("decline"),
  callPanel: $("call-panel"), callBadges: $("call-badges"), callContext: $("call-context"),
  remote: $("remote-video"), local: $("local-video"), supervisorAudio: $("supervisor-audio"),
  superNotice: $("super-notice"), rec: $("recording-indicator"), stageNote: $("stage-note"),
  peerState: $("peer-state"), mute: $("mute"), camera: $("camera"), snapshot: $("snapshot"),
  pauseRec: $("pause-rec"), resumeRec: $("resume-rec"), hangup: $("hang-up"), callTimer: $("call-timer"),
  chatLog: $("chat-log"), chatForm: $("chat-form"), chatInput: $("chat-input"), photoInput: $("photo-input"),
  transferForm: $("transfer-form"), transferTo: $("transfer-to"), transferQueues: $("transfer-queues"),
  transferAgent: $("transfer-agent"), transferAgentLabel: $("transfer-agent-label"),
  ended: $("ended-panel"), endedTitle: $("ended-title"), endedReason: $("ended-reason"),
  endedSummary: $("ended-summary"), ready: $("ready"), wrapUpForm: $("wrap-up-form"),
  wrapUpTimer: $("wrap-up-timer"), disposition: $("disposition"), notes: $("notes"),
  queuesCard: $("queues-card"), queuesAt: $("queues-at"), queuesBody: $("queues-body"),
  history: $("history-list"),
  statCalls: $("stat-calls"), statTalk: $("stat-talk"), statCallbacks: $("stat-callbacks"),
};
const baseTitle = document.title;

const STATE_WORDS = {
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
const STAGE_NOTES = { connecting: "Connecting video…", reconnecting: "Reconnecting…" };
const IN_CALL = new Set(["connecting", "connected", "reconnecting"]);
const DEMO_HINT = el.demoHint.textContent;

/** Everything the console shows. Handlers change it; render() writes it. */
const state = {
  presence: null, // the AgentPresence of this sign-in
  agentName: null,
  call: "idle", // the console's state: the presence's, or idle/starting/error around it
  words: "Not signed in",
  history: ["idle"],
  agentState: "offline", // the server's view of this agent (agent-state)
  joined: false,
  signInOpen: true,
  tokenOpen: false,
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
  snapshotBusy: false,
  hangingUp: false,
  wrapUpSending: false,
  lastCall: null,
  endedTitle: "Call ended",
  endedReason: "",
  endedSummary: "",
  transferByAgent: false,
  queues: null,
  stats: { calls: 0, talkS: 0, callbacks: null },
  log: [], // this session's history, newest first: {at, text}
  refs: { snapshot: null, recording: null },
};

const inCall = () => IN_CALL.has(state.call);
const wrapUp = () => (state.presence ? state.presence.wrapUp : null);

const chat = new ChatLog(el.chatLog, {
  itemClass: (m) => `msg ${m.role === "agent" ? "mine" : "theirs"}`,
  whoLine: (m) => `${whoSaid(m)} · ${timeOfDay(m.at)}`,
  photoAlt: (m) => (m.kind === "snapshot" ? "Snapshot of the shopper's video" : `Photo from ${whoSaid(m)}`),
  photoTestId: (m) => (m.kind === "snapshot" ? "chat-snapshot" : "chat-photo"),
  photoCaption: (m) => (m.kind === "snapshot" ? "Snapshot" : "Photo"),
  photoLink: true,
  token: () => state.presence && state.presence.token,
});

const callbacks = new CallbackList({
  card: $("callbacks-card"), count: $("callbacks-count"), list: $("callbacks-list"),
  onCount: (n) => { state.stats.callbacks = n; render(); },
  onDone: (cb) => addHistory(`Callback to ${cb.name || "a shopper"} marked done.`),
  onError: (words) => setError(words),
});

function whoSaid(m) {
  if (m.role === "agent" && (!m.name || m.name === state.agentName)) return "You";
  if (m.role === "shopper") return m.name ? `${m.name} (shopper)` : "Shopper";
  if (m.role === "supervisor") return `${m.name || "Supervisor"} (supervisor)`;
  return m.name || m.role || "";
}

function setError(words) {
  state.error = words || "";
  render();
}

function addHistory(text) {
  state.log.unshift({ at: timeOfDay(), text });
  render();
}

// --- render -----------------------------------------------------------------------------

function render() {
  const st = state.call;
  const live = inCall();
  el.error.textContent = state.error;
  el.state.dataset.state = st;
  el.state.textContent =
    st === "ended" ? `Call ended — ${state.words || ""}`.trim()
    : st === "reconnecting" ? state.words || STATE_WORDS.reconnecting
    : STATE_WORDS[st] || state.words || st;
  document.body.dataset.state = st;
  document.title = st === "ringing" ? `📞 Incoming call — ${baseTitle}` : baseTitle;

  el.signin.hidden = !state.signInOpen;
  el.demoHint.textContent = state.demoHint;
  if (state.tokenOpen) el.tokenDetails.open = true;
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
  el.transferAgent.hidden = !state.transferByAgent;
  el.transferAgentLabel.hidden = !state.transferByAgent;
  renderRecording();
  renderCallTimer();

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

function renderAvailability() {
  const a = state.agentState;
  el.availability.hidden = !(state.presence && a !== "offline" && state.call !== "error");
  const busy = a === "ringing" || a === "busy";
  el.setAvailable.setAttribute("aria-pressed", String(a === "available"));
  el.setAway.setAttribute("aria-pressed", String(a === "away"));
  el.setAvailable.disabled = busy || a === "available";
  el.setAway.disabled = busy || a === "away";
  el.setAvailable.title = a === "wrap_up" ? "Skip the rest of the wrap-up and take calls" : "";
}

function renderRecording() {
  const live = inCall();
  const on = state.recording === "on" && live;
  const paused = state.recording === "paused" && live;
  el.rec.hidden = !(on || paused);
  el.rec.dataset.state = on ? "on" : paused ? "paused" : "off";
  el.rec.textContent = on ? "● Recording" : paused ? "Recording paused" : "";
  el.pauseRec.hidden = !on;
  el.resumeRec.hidden = !paused;
}

function renderCallTimer() {
  const at = state.current && state.current.connectedAt;
  el.callTimer.textContent = at && inCall() ? clock((Date.now() - at) / 1000) : "";
}

function renderWaited() {
  const o = state.offered;
  if (!o || state.call !== "ringing") return;
  el.incomingWaited.textContent = `Waited ${clock((o.waited_s || 0) + (Date.now() - o.receivedAt) / 1000)}`;
}

/** The wrap-up countdown ("available again in 7 s") while the server holds us in wrap-up. */
function renderWrapUpTimer() {
  const w = wrapUp();
  const shown = !!(w && w.endsAt && state.call === "ended");
  el.wrapUpTimer.hidden = !shown;
  if (shown) {
    const left = Math.max(0, Math.ceil((w.endsAt - Date.now()) / 1000));
    el.wrapUpTimer.textContent = `Wrap-up time: you will be available again in ${left} s.`;
  }
}

function renderQueues(queues) {
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
  el.transferQueues.replaceChildren(...queues.map((q) => h("option", { value: q.queue }, `${queueName(q.queue)} queue`)));
}

// Clocks move on between events.
setInterval(() => {
  renderCallTimer();
  renderWaited();
  renderWrapUpTimer();
}, 1000);

// --- state changes ------------------------------------------------------------------------

/** The console's state changes: the side effects of entering a state, then render. */
function setCallState(st, words) {
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

function setAgentState(agentState) {
  state.agentState = agentState || "offline";
  render();
}

/** A new call on screen: no chat, no toggles, no notices from the last one. */
function resetCall() {
  chat.clear();
  Object.assign(state, {
    muted: false, cameraOff: false, peer: { state: "", words: "" }, supervisor: null, recording: "off",
    transferByAgent: false, snapshotBusy: false,
  });
  el.transferTo.value = "";
  el.transferAgent.value = "";
}

// --- the presence on the server ---------------------------------------------------------

function signIn(getToken, { pasted = false, name = null } = {}) {
  state.error = "";
  if (state.presence) state.presence.leave();
  state.agentName = name;
  const s = new AgentPresence({
    getToken,
    localVideo: el.local,
    remoteVideo: el.remote,
    extraAudio: el.supervisorAudio,
    otherName: "the shopper",
    debug,
  });
  state.presence = s;
  const mine = (fn) => (m) => { if (state.presence === s) fn(m); };
  s.on("state", mine((st) => {
    if (pasted && st.state === "error" && (st.code === "unauthorized" || st.code === "forbidden")) {
      Object.assign(state, { signInOpen: true, tokenOpen: true });
      setCallState("error", "That token was not accepted: it may be mistyped, expired, or not an agent token. Paste a new one.");
      el.tokenInput.focus();
      return;
    }
    // The server announces wrap-up, available and away; ringing and busy follow from the call.
    if (st.state === "ringing") state.agentState = "ringing";
    if (IN_CALL.has(st.state) && state.agentState !== "busy") state.agentState = "busy";
    if (st.state === "error") Object.assign(state, { signInOpen: true, joined: false, agentState: "offline" });
    setCallState(st.state, st.words);
  }));
  s.on("joined", mine((m) => {
    Object.assign(state, { agentName: m.name || state.agentName || "Agent", joined: true, signInOpen: false });
    if (m.state) state.agentState = m.state;
    renderQueues(m.queues);
    render();
    callbacks.load(s.token);
  }));
  s.on("agent-state", mine((m) => setAgentState(m.state)));
  s.on("call-offered", mine((m) => {
    state.offered = { ...m, receivedAt: Date.now() };
    renderBadges(el.incomingBadges, m);
    renderContext(el.context, m);
    setError("");
    // Start the camera while it rings: the self view is ready, and so is the offer on accept.
    s.acquireMedia().catch((err) => setError(err.words || "Could not start the camera and microphone."));
  }));
  s.on("call-withdrawn", mine((m) => {
    if (!state.offered || state.offered.call_id !== m.call_id) return; // we declined it ourselves
    const why = {
      hang_up: "The shopper hung up before you answered.",
      timeout: "You did not answer in time; the call went back to the queue and you are now away.",
      taken: "Another agent took the call.",
      agent_gone: "The call went back to the queue.",
    }[m.reason] || "The call is no longer offered to you.";
    state.lastCall = why;
    state.offered = null;
    addHistory(`Missed call: ${why}`);
  }));
  s.on("wrap-up", mine(() => render()));
  s.on("participant-state", mine((m) => {
    state.peer = { state: m.state, words: m.state === "connected" ? "" : m.words };
    render();
  }));
  s.on("call-ended", mine((m) => {
    const call = state.current;
    const talkedS = call && call.connectedAt ? (Date.now() - call.connectedAt) / 1000 : null;
    if (talkedS !== null) {
      state.stats.calls += 1;
      state.stats.talkS += talkedS;
    }
    const ctx = (call && call.context) || {};
    state.endedSummary = call
      ? `${ctx.title || "Call"} · ${queueName(call.queue)} queue${talkedS !== null ? ` · talked for ${clock(talkedS)}` : ""}`
      : "";
    state.lastCall = `Last call: ${m.words}`;
    state.endedTitle = m.reason === "transferred" ? "Call transferred" : "Call ended";
    Object.assign(state, { current: null, muted: false, cameraOff: false, supervisor: null, recording: "off" });
    addHistory(m.words);
  }));
  s.on("message", mine(onMessage));
  s.on("error", mine((e) => {
    if (!e.words) return;
    if (e.code === "unknown_type" && state.refs.recording && e.ref === state.refs.recording) {
      setError("This server does not support pausing the recording yet.");
      return;
    }
    if (e.ref && e.ref === state.refs.snapshot) state.snapshotBusy = false;
    setError(e.message && e.code === "invalid_state" ? `${e.words} (${e.message})` : e.words);
  }));
  s.start().catch((err) => {
    if (state.presence === s && s.state !== "error") s.fail(err);
  });
}

function onMessage(m) {
  switch (m.type) {
    case "chat":
      chat.addChat(m);
      break;
    case "photo":
      chat.addPhoto(m);
      if (m.kind === "snapshot") state.snapshotBusy = false;
      render();
      break;
    case "callbacks-changed":
      callbacks.load();
      break;
    case "recording":
      state.recording = ["on", "paused"].includes(m.state) ? m.state : "off";
      render();
      break;
    case "supervisor": {
      const who = m.name || "A supervisor";
      state.supervisor = m.mode === "whisper"
        ? { mode: "whisper", words: `${who} is whispering to you — only you can hear them; the shopper cannot.` }
        : m.mode === "barge"
          ? { mode: "barge", words: `${who} joined the call — the shopper hears them too.` }
          : null;
      render();
      break;
    }
    default:
      break;
  }
}

/** Runs `fn` with the presence and the current call; shows a refusal in words. */
function inTheCall(fn) {
  const s = state.presence;
  if (!s || !s.callId) return;
  try {
    fn(s, s.callId);
  } catch (err) {
    setError(err.words);
  }
}

// --- handlers ---------------------------------------------------------------------------

el.accept.addEventListener("click", () => {
  const s = state.presence;
  if (!s || !state.offered) return;
  state.current = state.offered;
  state.answering = true;
  state.error = "";
  resetCall();
  renderBadges(el.callBadges, state.current);
  renderContext(el.callContext, state.current);
  render();
  try {
    s.accept(state.offered.call_id);
  } catch (err) {
    setError(err.words || "Could not accept the call.");
  }
});

el.decline.addEventListener("click", () => {
  const s = state.presence;
  if (!s || !state.offered) return;
  const callId = state.offered.call_id;
  state.offered = null;
  try {
    s.decline(callId);
    addHistory("Declined a call.");
  } catch (err) {
    setError(err.words || "Could not decline the call.");
  }
});

el.hangup.addEventListener("click", () => {
  if (!state.presence) return;
  state.hangingUp = true;
  render();
  state.presence.hangup();
});

el.chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.chatInput.value.trim();
  if (!text) return;
  inTheCall((s, callId) => {
    s.sendMessage("chat", { call_id: callId, text: text.slice(0, 2000) });
    el.chatInput.value = "";
  });
});

el.photoInput.addEventListener("change", async () => {
  const file = el.photoInput.files && el.photoInput.files[0];
  el.photoInput.value = "";
  const s = state.presence;
  if (!file || !s || !s.callId) return;
  setError("");
  try {
    await uploadPhoto(s.callId, file, s.token);
  } catch (err) {
    setError(err.words);
  }
});

el.snapshot.addEventListener("click", () => {
  inTheCall((s, callId) => {
    state.snapshotBusy = true;
    render();
    try {
      state.refs.snapshot = s.sendMessage("snapshot", { call_id: callId });
    } catch (err) {
      state.snapshotBusy = false;
      throw err;
    }
    setTimeout(() => { state.snapshotBusy = false; render(); }, 5000);
  });
});

function sendRecording(type) {
  inTheCall((s, callId) => { state.refs.recording = s.sendMessage(type, { call_id: callId }); });
}
el.pauseRec.addEventListener("click", () => sendRecording("pause-recording"));
el.resumeRec.addEventListener("click", () => sendRecording("resume-recording"));

el.transferTo.addEventListener("change", () => {
  state.transferByAgent = el.transferTo.value === "__agent";
  render();
  if (state.transferByAgent) el.transferAgent.focus();
});
el.transferForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const choice = el.transferTo.value;
  inTheCall((s, callId) => {
    const fields = { call_id: callId };
    if (choice === "__agent") {
      const id = el.transferAgent.value.trim();
      if (!id) {
        setError("Type the agent id of the colleague to transfer to.");
        el.transferAgent.focus();
        return;
      }
      fields.to_agent = id;
    } else if (choice) {
      fields.to_queue = choice;
    } else {
      setError("Choose a queue or a colleague to transfer to.");
      el.transferTo.focus();
      return;
    }
    s.sendMessage("transfer", fields);
    addHistory(`Transferred a call to ${fields.to_queue ? `the ${queueName(fields.to_queue)} queue` : `agent ${fields.to_agent}`}.`);
  });
});

el.wrapUpForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = state.presence;
  if (!s) return;
  state.wrapUpSending = true;
  render();
  try {
    s.ready({ disposition: el.disposition.value, notes: el.notes.value.trim() });
  } catch (err) {
    state.wrapUpSending = false;
    setError(err.words || "Could not finish the wrap-up.");
  }
});

function setAvailability(availability) {
  if (!state.presence) return;
  try {
    state.presence.setAvailability(availability);
  } catch (err) {
    setError(err.words || "Could not change your availability.");
  }
}
el.setAvailable.addEventListener("click", () => setAvailability("available"));
el.setAway.addEventListener("click", () => setAvailability("away"));

el.mute.addEventListener("click", () => {
  const stream = state.presence && state.presence.localStream;
  if (!stream) return;
  state.muted = !state.muted;
  setTracksEnabled(stream, "audio", !state.muted);
  render();
});
el.camera.addEventListener("click", () => {
  const stream = state.presence && state.presence.localStream;
  if (!stream) return;
  state.cameraOff = !state.cameraOff;
  setTracksEnabled(stream, "video", !state.cameraOff);
  render();
});

async function demoSignIn(name) {
  state.error = "";
  setCallState("starting", "Signing in…");
  try {
    const token = await demoToken("agent", name);
    if (!token) {
      Object.assign(state, {
        signInOpen: true, tokenOpen: true,
        demoHint: "Demo sign-in is switched off on this server. Paste the agent token your administrator gave you.",
      });
      setCallState("idle", "Not signed in");
      el.tokenInput.focus();
      return;
    }
    signIn(async () => token, { name });
  } catch (err) {
    state.signInOpen = true;
    setCallState("error", err.words || "Could not sign in.");
  }
}

new SignIn({ // eslint-disable-line no-new
  demoForm: el.demoForm,
  nameInput: el.nameInput,
  tokenForm: el.signinForm,
  tokenInput: el.tokenInput,
  setError,
  onName: demoSignIn,
  onToken: (token) => signIn(async () => token, { pasted: true }),
  focusEmptyName: true,
});

window.addEventListener("pagehide", () => state.presence && state.presence.leave());

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (state.presence ? state.presence.peer() : null),
  state: () => state.call,
  history: () => state.history.slice(),
  session: () => state.presence,
  callId: () => (state.presence ? state.presence.callId : null),
});

// --- start ----------------------------------------------------------------------------

render();
if (params.get("name")) {
  el.nameInput.value = params.get("name").slice(0, 80);
  demoSignIn(el.nameInput.value);
} else {
  el.nameInput.focus();
}
