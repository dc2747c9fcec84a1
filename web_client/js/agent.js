// Silkline agent console: sign in, take calls, talk face to face, chat and photos, transfer,
// wrap up, and work through callback requests.
//
// Query parameters: ?name=Ann (sign in at once with a demo token under this name),
// ?debug (log protocol traffic to the console).

import { CallSession } from "./call-client.js";
import {
  agentStateWords, api, clock, demoToken, h, money, photoBlobUrl, queueName, safeLink, timeOfDay, toggleTrack,
  uploadPhoto, wireSignInForms,
} from "./ui-common.js";

const params = new URLSearchParams(location.search);
const debug = params.has("debug");

const $ = (id) => document.getElementById(id);
const el = {
  who: $("who"),
  whoName: $("who-name"),
  agentState: $("agent-state"),
  availability: $("availability"),
  setAvailable: $("set-available"),
  setAway: $("set-away"),
  state: $("call-state"),
  error: $("error"),
  signin: $("signin"),
  demoForm: $("demo-form"),
  nameInput: $("name-input"),
  signInBtn: $("sign-in"),
  demoHint: $("demo-hint"),
  tokenDetails: $("token-details"),
  signinForm: $("signin-form"),
  tokenInput: $("token-input"),
  idle: $("idle-panel"),
  idleTitle: $("idle-title"),
  idleNote: $("idle-note"),
  lastCall: $("last-call"),
  incoming: $("incoming"),
  incomingKind: $("incoming-kind"),
  incomingWaited: $("incoming-waited"),
  incomingBadges: $("incoming-badges"),
  context: $("context"),
  accept: $("accept"),
  decline: $("decline"),
  callPanel: $("call-panel"),
  callBadges: $("call-badges"),
  callContext: $("call-context"),
  remote: $("remote-video"),
  local: $("local-video"),
  supervisorAudio: $("supervisor-audio"),
  superNotice: $("super-notice"),
  rec: $("recording-indicator"),
  stageNote: $("stage-note"),
  peerState: $("peer-state"),
  mute: $("mute"),
  camera: $("camera"),
  snapshot: $("snapshot"),
  pauseRec: $("pause-rec"),
  resumeRec: $("resume-rec"),
  hangup: $("hang-up"),
  chatLog: $("chat-log"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  photoInput: $("photo-input"),
  transferForm: $("transfer-form"),
  transferTo: $("transfer-to"),
  transferQueues: $("transfer-queues"),
  transferAgent: $("transfer-agent"),
  transferAgentLabel: $("transfer-agent-label"),
  ended: $("ended-panel"),
  endedTitle: $("ended-title"),
  endedReason: $("ended-reason"),
  endedSummary: $("ended-summary"),
  callTimer: $("call-timer"),
  ready: $("ready"),
  wrapUpForm: $("wrap-up-form"),
  wrapUpTimer: $("wrap-up-timer"),
  disposition: $("disposition"),
  notes: $("notes"),
  queuesCard: $("queues-card"),
  queuesAt: $("queues-at"),
  queuesBody: $("queues-body"),
  callbacksCard: $("callbacks-card"),
  callbacksCount: $("callbacks-count"),
  callbacksList: $("callbacks-list"),
  history: $("history-list"),
  statCalls: $("stat-calls"),
  statTalk: $("stat-talk"),
  statCallbacks: $("stat-callbacks"),
};
const sessionStats = { calls: 0, talkS: 0 };

let session = null;
let agentName = null;
let offeredCall = null; // the call-offered message (+ receivedAt)
let currentCall = null;
let recording = "off";
let blobUrls = [];
const stateHistory = ["idle"];
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

const STAGE_NOTES = {
  connecting: "Connecting video…",
  reconnecting: "Reconnecting…",
};

function setError(words) {
  el.error.textContent = words || "";
}

// --- tokens ---------------------------------------------------------------------------

// --- the shopper's context ---------------------------------------------------------------

function badges(ul, m) {
  ul.replaceChildren();
  const add = (text, cls, testid) => ul.append(h("li", { class: `badge ${cls || ""}`, "data-testid": testid }, text));
  add(`${queueName(m.queue)} queue`, "queue", "badge-queue");
  if (m.audio_only) add("Voice only", "voice", "badge-voice");
  if (m.returning) add("Returning customer", "returning", "badge-returning");
  if (m.priority > 0) add("Priority customer", "vip", "badge-priority");
}

/** The shopper's page context as a description list (everything the widget sent). */
function renderContext(dl, m) {
  dl.replaceChildren();
  const ctx = m && m.context && typeof m.context === "object" ? m.context : {};
  const add = (term, ...value) => {
    if (!value.length || value.every((v) => v === null || v === undefined || v === "")) return;
    dl.append(h("dt", {}, term), h("dd", {}, ...value));
  };
  const title = ctx.title || ctx.product || null;
  add("Product", ctx.url ? safeLink(ctx.url, title || ctx.url) : title);
  if (ctx.product_id) add("Product id", h("code", {}, String(ctx.product_id)));
  add("Price", money(ctx.price, ctx.currency));
  if (ctx.category) add("Category", `${ctx.category} → ${queueName(m.queue)} queue`);
  else add("Queue", queueName(m.queue));
  add("Customer", ctx.customer_id ? `${ctx.customer_id}${m.returning ? " (returning)" : ""}` : "Guest (not signed in)");
  add("Language", ctx.locale);
  if (Array.isArray(ctx.trajectory) && ctx.trajectory.length) {
    const titles = Array.isArray(ctx.trajectory_titles) ? ctx.trajectory_titles : [];
    const ol = h("ol", { class: "trail", "data-testid": "trajectory" },
      ctx.trajectory.map((url, i) => h("li", {}, safeLink(url, titles[i] || url))));
    add("Pages visited", ol);
  }
  const known = new Set(["title", "product", "url", "product_id", "price", "currency", "category",
    "customer_id", "locale", "trajectory", "trajectory_titles", "media"]);
  for (const [k, v] of Object.entries(ctx)) {
    if (known.has(k) || v === null || v === "" || typeof v === "object") continue;
    add(k.replace(/_/g, " "), String(v));
  }
  if (!dl.children.length) add("Context", "No details were given.");
}

let waitedTicker = null;
function startWaitedTicker() {
  clearInterval(waitedTicker);
  const tick = () => {
    if (!offeredCall || el.incoming.hidden) {
      clearInterval(waitedTicker);
      return;
    }
    const waited = (offeredCall.waited_s || 0) + (Date.now() - offeredCall.receivedAt) / 1000;
    el.incomingWaited.textContent = `Waited ${clock(waited)}`;
  };
  tick();
  waitedTicker = setInterval(tick, 1000);
}

// --- rendering ------------------------------------------------------------------------

function show(section, visible) {
  section.hidden = !visible;
}

function addHistory(entry) {
  const empty = el.history.querySelector(".empty");
  if (empty) empty.remove();
  el.history.prepend(h("li", {}, h("time", {}, timeOfDay()), ` ${entry}`));
}

function setPeerState(state, words) {
  el.peerState.dataset.state = state || "";
  el.peerState.textContent = words || "";
}

function resetToggles() {
  el.mute.setAttribute("aria-pressed", "false");
  el.mute.textContent = "Mute";
  el.camera.setAttribute("aria-pressed", "false");
  el.camera.textContent = "Camera off";
}

function resetCallUi() {
  resetToggles();
  setPeerState("", "");
  el.chatLog.replaceChildren();
  for (const u of blobUrls) URL.revokeObjectURL(u);
  blobUrls = [];
  el.superNotice.hidden = true;
  recording = "off";
  renderRecording();
  el.transferTo.value = "";
  el.transferAgent.value = "";
  toggleTransferAgent();
  el.snapshot.disabled = false;
}

function render(state, words) {
  if (state !== stateHistory[stateHistory.length - 1]) stateHistory.push(state);
  el.state.dataset.state = state;
  el.state.textContent =
    state === "ended" ? `Call ended — ${words || ""}`.trim()
    : state === "reconnecting" ? words || STATE_WORDS.reconnecting
    : STATE_WORDS[state] || words || state;
  document.body.dataset.state = state;
  if (state === "connected") setError(""); // earlier hiccups are over
  if (state === "connected" && currentCall && !currentCall.connectedAt) currentCall.connectedAt = Date.now();
  renderCallTimer();

  show(el.idle, state === "available" || state === "away");
  if (state === "available" || state === "away") {
    const away = state === "away";
    el.idleTitle.textContent = away ? "Away — not taking calls" : "Available — waiting for calls";
    el.idleNote.textContent = away
      ? "Calls will not ring here until you choose Available."
      : "Calls ring here. Keep this tab open; you can use other tabs meanwhile.";
  }
  show(el.incoming, state === "ringing");
  const inCall = state === "connecting" || state === "connected" || state === "reconnecting";
  show(el.callPanel, inCall);
  show(el.ended, state === "ended");

  document.title = state === "ringing" ? `📞 Incoming call — ${baseTitle}` : baseTitle;
  const voice = currentCall && currentCall.audio_only;
  const note = STAGE_NOTES[state] || (voice && state === "connected" ? "Voice-only call — the shopper has no camera on." : "");
  el.stageNote.textContent = note;
  el.stageNote.hidden = !note;
  el.stageNote.classList.toggle("soft", !STAGE_NOTES[state]);
  el.hangup.disabled = false;
  el.hangup.textContent = "Hang up";
  el.snapshot.hidden = !!voice;
  renderRecording();
  renderAvailability();

  if (state === "ringing") {
    el.accept.disabled = false;
    el.decline.disabled = false;
    const active = document.activeElement;
    if (!active || active === document.body || el.incoming.contains(active) || active.tagName === "BUTTON") {
      el.accept.focus();
    }
    startWaitedTicker();
  }
  if (state === "ended") {
    el.endedReason.textContent = words || "";
    el.ready.disabled = false;
    el.disposition.selectedIndex = 0;
    el.notes.value = "";
    if (!(session && session.wrapUp)) el.wrapUpTimer.hidden = true;
    el.disposition.focus();
  }
  if (state === "available") {
    setPeerState("", "");
    if (el.ended.contains(document.activeElement) || el.callPanel.contains(document.activeElement)) {
      el.idleTitle.focus();
    }
  }
  if (state === "error") setError(words || "Something went wrong.");
}

/** The server's view of this agent (agent-state): the pill and the Available/Away buttons. */
let serverAgentState = "offline";
function setAgentState(state) {
  serverAgentState = state || "offline";
  el.agentState.dataset.state = serverAgentState;
  el.agentState.textContent = agentStateWords(serverAgentState);
  renderAvailability();
}

function renderAvailability() {
  const signedIn = !!session && serverAgentState !== "offline" && el.state.dataset.state !== "error";
  el.availability.hidden = !signedIn;
  const busy = ["ringing", "busy"].includes(serverAgentState);
  el.setAvailable.setAttribute("aria-pressed", String(serverAgentState === "available"));
  el.setAway.setAttribute("aria-pressed", String(serverAgentState === "away"));
  el.setAvailable.disabled = busy || serverAgentState === "available";
  el.setAway.disabled = busy || serverAgentState === "away";
  el.setAvailable.title = serverAgentState === "wrap_up" ? "Skip the rest of the wrap-up and take calls" : "";
}

function renderRecording() {
  const live = !el.callPanel.hidden;
  const on = recording === "on" && live;
  const paused = recording === "paused" && live;
  el.rec.hidden = !(on || paused);
  el.rec.dataset.state = on ? "on" : paused ? "paused" : "off";
  el.rec.textContent = on ? "● Recording" : paused ? "Recording paused" : "";
  el.pauseRec.hidden = !on;
  el.resumeRec.hidden = !paused;
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

// --- chat, photos, snapshots ------------------------------------------------------------

function whoSaid(m) {
  if (m.role === "agent" && (!m.name || m.name === agentName)) return "You";
  if (m.role === "shopper") return m.name ? `${m.name} (shopper)` : "Shopper";
  if (m.role === "supervisor") return `${m.name || "Supervisor"} (supervisor)`;
  return m.name || m.role || "";
}

function addLogItem(m, body) {
  const mine = m.role === "agent";
  const li = h("li", { class: `msg ${mine ? "mine" : "theirs"}` },
    h("span", { class: "who" }, `${whoSaid(m)} · ${timeOfDay(m.at)}`), body);
  el.chatLog.append(li);
  el.chatLog.scrollTop = el.chatLog.scrollHeight;
}

function addChat(m) {
  addLogItem(m, h("p", { class: "text" }, m.text));
}

async function addPhoto(m) {
  const img = h("img", {
    alt: m.kind === "snapshot" ? "Snapshot of the shopper's video" : `Photo from ${whoSaid(m)}`,
    "data-testid": m.kind === "snapshot" ? "chat-snapshot" : "chat-photo",
    width: m.width || null, height: m.height || null,
  });
  const link = h("a", { class: "thumb", target: "_blank", rel: "noopener", title: "Open full size" }, img);
  const cap = h("figcaption", {}, m.kind === "snapshot" ? "Snapshot" : "Photo");
  addLogItem(m, h("figure", { class: "photo" }, link, cap));
  try {
    const url = await photoBlobUrl(m.url, session.token);
    blobUrls.push(url);
    img.src = url;
    link.href = url;
  } catch (err) {
    cap.textContent = err.words || "The photo could not be shown.";
  }
}

// --- callbacks ------------------------------------------------------------------------

async function loadCallbacks() {
  if (!session || !session.token) return;
  let data;
  try {
    data = await api("/api/callbacks", { token: session.token });
  } catch (err) {
    el.callbacksCard.hidden = false;
    el.callbacksList.replaceChildren(h("li", { class: "empty" }, err.words));
    return;
  }
  const list = Array.isArray(data.callbacks) ? data.callbacks : [];
  el.callbacksCard.hidden = false;
  el.callbacksCount.textContent = list.length ? `(${list.length})` : "";
  el.statCallbacks.textContent = String(list.length);
  if (!list.length) {
    el.callbacksList.replaceChildren(h("li", { class: "empty" }, "No open requests."));
    return;
  }
  el.callbacksList.replaceChildren(...list.map((cb) => {
    const contact = String(cb.contact || "");
    const href = /@/.test(contact) ? `mailto:${contact}` : `tel:${contact.replace(/[^\d+]/g, "")}`;
    const ctx = cb.context || {};
    const done = h("button", {
      type: "button", class: "btn small", "data-testid": `callback-done-${cb.call_id}`,
      "aria-label": `Mark the request from ${cb.name || "this shopper"} as done`,
    }, "Done");
    done.addEventListener("click", async () => {
      done.disabled = true;
      try {
        await api(`/api/callbacks/${encodeURIComponent(cb.call_id)}/done`, { token: session.token, method: "POST" });
        addHistory(`Callback to ${cb.name || "a shopper"} marked done.`);
        await loadCallbacks();
      } catch (err) {
        done.disabled = false;
        setError(err.words);
      }
    });
    return h("li", { class: "callback", "data-testid": `callback-${cb.call_id}` },
      h("div", { class: "cb-head" },
        h("strong", {}, cb.name || "Unnamed"),
        h("a", { href }, contact)),
      cb.question ? h("p", { class: "cb-q" }, `“${cb.question}”`) : null,
      h("p", { class: "cb-meta" },
        [ctx.title, `${queueName(cb.queue)} queue`, typeof cb.at === "number" ? `asked at ${timeOfDay(cb.at)}` : null]
          .filter(Boolean).join(" · ")),
      done);
  }));
}

// --- session --------------------------------------------------------------------------

function signIn(getToken, { pasted = false, name = null } = {}) {
  setError("");
  if (session) session.leave();
  agentName = name;
  session = new CallSession({
    role: "agent",
    getToken,
    localVideo: el.local,
    remoteVideo: el.remote,
    extraAudio: el.supervisorAudio,
    otherName: "the shopper",
    debug,
  });
  const s = session;
  s.on("state", (st) => {
    if (session !== s) return;
    if (pasted && st.state === "error" && (st.code === "unauthorized" || st.code === "forbidden")) {
      render("error", "That token was not accepted: it may be mistyped, expired, or not an agent token. Paste a new one.");
      el.signin.hidden = false;
      el.tokenDetails.open = true;
      el.tokenInput.focus();
      return;
    }
    // The server announces wrap-up, available and away; ringing and busy follow from the call.
    if (st.state === "ringing") setAgentState("ringing");
    if (["connecting", "connected", "reconnecting"].includes(st.state) && serverAgentState !== "busy") setAgentState("busy");
    if (st.state === "error") {
      el.signin.hidden = false;
      el.who.hidden = true;
      setAgentState("offline");
    }
    render(st.state, st.words);
  });
  s.on("joined", (m) => {
    agentName = m.name || agentName || "Agent";
    el.whoName.textContent = agentName;
    el.who.hidden = false;
    el.signin.hidden = true;
    if (m.state) setAgentState(m.state);
    renderQueues(m.queues);
    loadCallbacks();
  });
  s.on("agent-state", (m) => setAgentState(m.state));
  s.on("call-offered", (m) => {
    offeredCall = { ...m, receivedAt: Date.now() };
    el.incomingKind.textContent = m.audio_only ? "Incoming voice call" : "Incoming video call";
    badges(el.incomingBadges, m);
    renderContext(el.context, m);
    setError("");
    startWaitedTicker();
    // Start the camera while it rings: the self view is ready, and so is the offer on accept.
    s.acquireMedia().catch((err) => setError(err.words || "Could not start the camera and microphone."));
  });
  s.on("call-withdrawn", (m) => {
    if (!offeredCall || offeredCall.call_id !== m.call_id) return; // we declined it ourselves
    const why = {
      hang_up: "The shopper hung up before you answered.",
      timeout: "You did not answer in time; the call went back to the queue and you are now away.",
      taken: "Another agent took the call.",
      agent_gone: "The call went back to the queue.",
    }[m.reason] || "The call is no longer offered to you.";
    addHistory(`Missed call: ${why}`);
    el.lastCall.textContent = why;
    el.lastCall.hidden = false;
    offeredCall = null;
  });
  s.on("wrap-up", () => showWrapUp());
  s.on("participant-state", (m) => {
    setPeerState(m.state, m.state === "connected" ? "" : m.words);
  });
  s.on("call-ended", (m) => {
    if (currentCall && currentCall.connectedAt) {
      sessionStats.calls += 1;
      sessionStats.talkS += (Date.now() - currentCall.connectedAt) / 1000;
      el.statCalls.textContent = String(sessionStats.calls);
      el.statTalk.textContent = clock(sessionStats.talkS);
    }
    if (currentCall) {
      const ctx = currentCall.context || {};
      const talked = currentCall.connectedAt ? ` · talked for ${clock((Date.now() - currentCall.connectedAt) / 1000)}` : "";
      el.endedSummary.textContent = `${ctx.title || "Call"} · ${queueName(currentCall.queue)} queue${talked}`;
    } else {
      el.endedSummary.textContent = "";
    }
    addHistory(m.words);
    el.lastCall.textContent = `Last call: ${m.words}`;
    el.lastCall.hidden = false;
    el.endedTitle.textContent = m.reason === "transferred" ? "Call transferred" : "Call ended";
    currentCall = null;
    resetToggles();
    el.superNotice.hidden = true;
    recording = "off";
    renderRecording();
  });
  s.on("message", (m) => {
    if (session !== s) return;
    switch (m.type) {
      case "chat":
        addChat(m);
        break;
      case "photo":
        addPhoto(m);
        if (m.kind === "snapshot") el.snapshot.disabled = false;
        break;
      case "callbacks-changed":
        loadCallbacks();
        break;
      case "recording":
        recording = ["on", "paused"].includes(m.state) ? m.state : "off";
        renderRecording();
        break;
      case "supervisor": {
        const who = m.name || "A supervisor";
        if (m.mode === "whisper") {
          el.superNotice.textContent = `${who} is whispering to you — only you can hear them; the shopper cannot.`;
          el.superNotice.dataset.mode = "whisper";
          el.superNotice.hidden = false;
        } else if (m.mode === "barge") {
          el.superNotice.textContent = `${who} joined the call — the shopper hears them too.`;
          el.superNotice.dataset.mode = "barge";
          el.superNotice.hidden = false;
        } else {
          el.superNotice.hidden = true;
          el.superNotice.textContent = "";
        }
        break;
      }
      default:
        break;
    }
  });
  s.on("error", (e) => {
    if (!e.words) return;
    if (e.code === "unknown_type" && recordingRef && e.ref === recordingRef) {
      setError("This server does not support pausing the recording yet.");
      return;
    }
    if (e.ref && e.ref === snapshotRef) el.snapshot.disabled = false;
    setError(e.message && e.code === "invalid_state" ? `${e.words} (${e.message})` : e.words);
  });
  s.start().catch((err) => {
    if (session === s && s.state !== "error") s._fail(err);
  });
}

el.accept.addEventListener("click", () => {
  if (!session || !offeredCall) return;
  el.accept.disabled = true;
  el.decline.disabled = true;
  currentCall = offeredCall;
  resetCallUi();
  badges(el.callBadges, currentCall);
  renderContext(el.callContext, currentCall);
  setError("");
  try {
    session.accept(offeredCall.call_id);
  } catch (err) {
    setError(err.words || "Could not accept the call.");
  }
});

el.decline.addEventListener("click", () => {
  if (!session || !offeredCall) return;
  try {
    session.decline(offeredCall.call_id);
    addHistory("Declined a call.");
  } catch (err) {
    setError(err.words || "Could not decline the call.");
  }
  offeredCall = null;
});

el.hangup.addEventListener("click", () => {
  if (!session) return;
  el.hangup.disabled = true;
  el.hangup.textContent = "Ending…";
  session.hangup();
});

el.chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.chatInput.value.trim();
  if (!text || !session || !session.callId) return;
  try {
    session.sendMessage("chat", { call_id: session.callId, text: text.slice(0, 2000) });
    el.chatInput.value = "";
  } catch (err) {
    setError(err.words);
  }
});

el.photoInput.addEventListener("change", async () => {
  const file = el.photoInput.files && el.photoInput.files[0];
  el.photoInput.value = "";
  if (!file || !session || !session.callId) return;
  setError("");
  try {
    await uploadPhoto(session.callId, file, session.token);
  } catch (err) {
    setError(err.words);
  }
});

let snapshotRef = null;
el.snapshot.addEventListener("click", () => {
  if (!session || !session.callId) return;
  try {
    el.snapshot.disabled = true;
    snapshotRef = session.sendMessage("snapshot", { call_id: session.callId });
    setTimeout(() => { el.snapshot.disabled = false; }, 5000);
  } catch (err) {
    el.snapshot.disabled = false;
    setError(err.words);
  }
});

let recordingRef = null;
function sendRecording(type) {
  if (!session || !session.callId) return;
  try {
    recordingRef = session.sendMessage(type, { call_id: session.callId });
  } catch (err) {
    setError(err.words);
  }
}
el.pauseRec.addEventListener("click", () => sendRecording("pause-recording"));
el.resumeRec.addEventListener("click", () => sendRecording("resume-recording"));

function toggleTransferAgent() {
  const byId = el.transferTo.value === "__agent";
  el.transferAgent.hidden = !byId;
  el.transferAgentLabel.hidden = !byId;
}
el.transferTo.addEventListener("change", () => {
  toggleTransferAgent();
  if (el.transferTo.value === "__agent") el.transferAgent.focus();
});
el.transferForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!session || !session.callId) return;
  const choice = el.transferTo.value;
  const fields = { call_id: session.callId };
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
  try {
    session.sendMessage("transfer", fields);
    addHistory(`Transferred a call to ${fields.to_queue ? `the ${queueName(fields.to_queue)} queue` : `agent ${fields.to_agent}`}.`);
  } catch (err) {
    setError(err.words);
  }
});

el.wrapUpForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!session) return;
  el.ready.disabled = true;
  try {
    session.ready({ disposition: el.disposition.value, notes: el.notes.value.trim() });
  } catch (err) {
    el.ready.disabled = false;
    setError(err.words || "Could not finish the wrap-up.");
  }
});

function renderCallTimer() {
  const at = currentCall && currentCall.connectedAt;
  el.callTimer.textContent = at && !el.callPanel.hidden ? clock((Date.now() - at) / 1000) : "";
}
setInterval(renderCallTimer, 1000);

// The wrap-up countdown ("available again in 7 s") while the server holds us in wrap-up.
let wrapUpTicker = null;
function showWrapUp() {
  clearInterval(wrapUpTicker);
  const tick = () => {
    const w = session && session.wrapUp;
    if (!w || !w.endsAt || el.state.dataset.state !== "ended") {
      el.wrapUpTimer.hidden = true;
      clearInterval(wrapUpTicker);
      return;
    }
    const left = Math.max(0, Math.ceil((w.endsAt - Date.now()) / 1000));
    el.wrapUpTimer.hidden = false;
    el.wrapUpTimer.textContent = `Wrap-up time: you will be available again in ${left} s.`;
  };
  tick();
  wrapUpTicker = setInterval(tick, 1000);
}

function setAvailability(state) {
  if (!session) return;
  try {
    session.setAvailability(state);
  } catch (err) {
    setError(err.words || "Could not change your availability.");
  }
}
el.setAvailable.addEventListener("click", () => setAvailability("available"));
el.setAway.addEventListener("click", () => setAvailability("away"));

function toggle(kind, button, onLabel, offLabel) {
  toggleTrack(session && session.localStream, kind, button, onLabel, offLabel);
}
el.mute.addEventListener("click", () => toggle("audio", el.mute, "Mute", "Unmute"));
el.camera.addEventListener("click", () => toggle("video", el.camera, "Camera off", "Camera on"));

async function demoSignIn(name) {
  setError("");
  el.signInBtn.disabled = true;
  render("starting", "Signing in…");
  try {
    const token = await demoToken("agent", name);
    if (!token) {
      render("idle", "Not signed in");
      el.signin.hidden = false;
      el.demoHint.textContent = "Demo sign-in is switched off on this server. Paste the agent token your administrator gave you.";
      el.tokenDetails.open = true;
      el.tokenInput.focus();
      return;
    }
    signIn(async () => token, { name });
  } catch (err) {
    render("error", err.words || "Could not sign in.");
    el.signin.hidden = false;
  } finally {
    el.signInBtn.disabled = false;
  }
}

wireSignInForms({
  demoForm: el.demoForm,
  nameInput: el.nameInput,
  tokenForm: el.signinForm,
  tokenInput: el.tokenInput,
  setError,
  onName: demoSignIn,
  onToken: (token) => signIn(async () => token, { pasted: true }),
  focusEmptyName: true,
});

window.addEventListener("pagehide", () => session && session.leave());

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (session ? session.peer() : null),
  state: () => el.state.dataset.state,
  history: () => stateHistory.slice(),
  session: () => session,
  callId: () => (session ? session.callId : null),
});

// --- start ----------------------------------------------------------------------------

render("idle", "Not signed in");
el.signin.hidden = false;
if (params.get("name")) {
  el.nameInput.value = params.get("name").slice(0, 80);
  demoSignIn(el.nameInput.value);
} else {
  el.nameInput.focus();
}
