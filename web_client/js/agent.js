// Silkline agent console: sign in, take calls, talk face to face, back to available.
//
// Query parameters: ?name=Ann (demo sign-in name), ?debug (log protocol traffic to the console).

import { CallSession, SilklineError } from "./call-client.js";

const params = new URLSearchParams(location.search);
const agentName = params.get("name") || "Ann";
const debug = params.has("debug");

const $ = (id) => document.getElementById(id);
const el = {
  who: $("who"),
  state: $("call-state"),
  error: $("error"),
  signin: $("signin"),
  signinForm: $("signin-form"),
  tokenInput: $("token-input"),
  idle: $("idle-panel"),
  idleTitle: $("idle-title"),
  idleNote: $("idle-note"),
  availability: $("availability"),
  lastCall: $("last-call"),
  incoming: $("incoming"),
  context: $("context"),
  accept: $("accept"),
  decline: $("decline"),
  callPanel: $("call-panel"),
  callContext: $("call-context"),
  remote: $("remote-video"),
  local: $("local-video"),
  stageNote: $("stage-note"),
  peerState: $("peer-state"),
  mute: $("mute"),
  camera: $("camera"),
  hangup: $("hang-up"),
  ended: $("ended-panel"),
  endedReason: $("ended-reason"),
  ready: $("ready"),
  wrapUpForm: $("wrap-up-form"),
  wrapUpTimer: $("wrap-up-timer"),
  disposition: $("disposition"),
  notes: $("notes"),
  history: $("history-list"),
};

let session = null;
let offeredCall = null; // {call_id, context, at}
let currentCall = null;
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

// --- tokens ---------------------------------------------------------------------------

/** A demo agent token, or null when the server has demo tokens switched off (404). */
async function demoToken() {
  let res;
  try {
    res = await fetch("/api/demo/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ role: "agent", name: agentName }),
    });
  } catch (_) {
    throw new SilklineError("network", "fetch failed", "Could not reach the Silkline server.");
  }
  if (res.status === 404) return null;
  if (!res.ok) {
    throw new SilklineError("http", `demo token ${res.status}`, `The server refused to sign you in (HTTP ${res.status}).`);
  }
  const body = await res.json();
  return body.token;
}

// --- rendering ------------------------------------------------------------------------

function show(section, visible) {
  section.hidden = !visible;
}

function renderContext(dl, context) {
  dl.replaceChildren();
  const add = (term, value, href) => {
    if (value === undefined || value === null || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (href && /^https?:/i.test(href)) {
      const a = document.createElement("a");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = value;
      dd.appendChild(a);
    } else {
      dd.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    dl.append(dt, dd);
  };
  const ctx = context && typeof context === "object" ? context : {};
  const known = new Set(["product", "page", "title", "name", "waiting_s", "queue", "skill", "skills"]);
  add("Customer", ctx.name || "Shopper");
  add("Product", ctx.product);
  add("Page", ctx.title || ctx.page, ctx.page);
  add("Queue", ctx.queue || ctx.skill || (Array.isArray(ctx.skills) ? ctx.skills.join(", ") : ctx.skills));
  if (typeof ctx.waiting_s === "number") add("Waited", `${Math.round(ctx.waiting_s)} s`);
  for (const [k, v] of Object.entries(ctx)) {
    if (!known.has(k)) add(k.replace(/_/g, " "), v);
  }
  if (!dl.children.length) add("Context", "No details were given.");
}

function addHistory(entry) {
  const empty = el.history.querySelector(".empty");
  if (empty) empty.remove();
  const li = document.createElement("li");
  const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.textContent = `${time} — ${entry}`;
  el.history.prepend(li);
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

function render(state, words) {
  if (state !== stateHistory[stateHistory.length - 1]) stateHistory.push(state);
  el.state.dataset.state = state;
  el.state.textContent =
    state === "ended" ? `Call ended — ${words || ""}`.trim()
    : state === "reconnecting" ? words || STATE_WORDS.reconnecting
    : STATE_WORDS[state] || words || state;
  document.body.dataset.state = state;
  if (state === "connected") el.error.textContent = ""; // earlier hiccups are over

  show(el.idle, state === "available" || state === "away");
  if (state === "available" || state === "away") {
    const away = state === "away";
    el.idleTitle.textContent = away ? "Away — not taking calls" : "Available — waiting for calls";
    el.idleNote.textContent = away
      ? "Calls will not ring here until you are available again."
      : "Calls ring here. Keep this tab open; you can use other tabs meanwhile.";
    el.availability.textContent = away ? "Make me available" : "Take a break";
    el.availability.classList.toggle("primary", away);
    el.availability.disabled = false;
  }
  show(el.incoming, state === "ringing");
  const inCall = state === "connecting" || state === "connected" || state === "reconnecting";
  show(el.callPanel, inCall);
  show(el.ended, state === "ended");

  document.title = state === "ringing" ? `📞 Incoming call — ${baseTitle}` : baseTitle;
  el.stageNote.textContent = STAGE_NOTES[state] || "";
  el.stageNote.hidden = !STAGE_NOTES[state];
  el.hangup.disabled = false;
  el.hangup.textContent = "Hang up";

  if (state === "ringing") {
    el.accept.disabled = false;
    el.decline.disabled = false;
    const active = document.activeElement;
    if (!active || active === document.body || el.incoming.contains(active) || active.tagName === "BUTTON") {
      el.accept.focus();
    }
  }
  if (state === "ended") {
    el.endedReason.textContent = words || "";
    el.ready.disabled = false;
    el.disposition.selectedIndex = 0;
    el.notes.value = "";
    el.wrapUpTimer.hidden = true;
    el.disposition.focus();
  }
  if (state === "available") {
    setPeerState("", "");
    if (el.ended.contains(document.activeElement) || el.callPanel.contains(document.activeElement)) {
      el.idleTitle.setAttribute("tabindex", "-1");
      el.idleTitle.focus();
    }
  }
  if (state === "error") {
    el.error.textContent = words || "Something went wrong.";
  }
}

// --- session --------------------------------------------------------------------------

function signIn(getToken, { pasted = false } = {}) {
  el.error.textContent = "";
  if (session) session.leave();
  session = new CallSession({
    role: "agent",
    getToken,
    localVideo: el.local,
    remoteVideo: el.remote,
    otherName: "the shopper",
    debug,
  });
  const s = session;
  s.on("state", (st) => {
    if (session !== s) return;
    if (pasted && st.state === "error" && (st.code === "unauthorized" || st.code === "forbidden")) {
      render("error", "That token was not accepted: it may be mistyped, expired, or not an agent token. Paste a new one.");
      el.signin.hidden = false;
      el.tokenInput.focus();
      return;
    }
    render(st.state, st.words);
  });
  s.on("joined", () => {
    el.who.textContent = `Signed in as ${agentName}`;
    el.who.hidden = false;
    el.signin.hidden = true;
  });
  s.on("call-offered", (m) => {
    offeredCall = { call_id: m.call_id, context: m.context || {} };
    renderContext(el.context, offeredCall.context);
    el.error.textContent = "";
    // Start the camera while it rings: the self view is ready, and so is the offer on accept.
    s.acquireMedia().catch((err) => {
      el.error.textContent = err.words || "Could not start the camera and microphone.";
    });
  });
  s.on("call-withdrawn", (m) => {
    if (!offeredCall || offeredCall.call_id !== m.call_id) return; // we declined it ourselves
    const why = {
      hang_up: "The shopper hung up before you answered.",
      timeout: "You did not answer in time; the call went back to the queue and you are now away.",
      taken: "Another agent took the call.",
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
    addHistory(m.words);
    el.lastCall.textContent = `Last call: ${m.words}`;
    el.lastCall.hidden = false;
    currentCall = null;
    resetToggles();
  });
  s.on("error", (e) => {
    if (e.words) el.error.textContent = e.words;
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
  renderContext(el.callContext, currentCall.context);
  setPeerState("", "");
  resetToggles();
  el.error.textContent = "";
  try {
    session.accept(offeredCall.call_id);
  } catch (err) {
    el.error.textContent = err.words || "Could not accept the call.";
  }
});

el.decline.addEventListener("click", () => {
  if (!session || !offeredCall) return;
  try {
    session.decline(offeredCall.call_id);
    addHistory("Declined a call.");
  } catch (err) {
    el.error.textContent = err.words || "Could not decline the call.";
  }
  offeredCall = null;
});

el.hangup.addEventListener("click", () => {
  if (!session) return;
  el.hangup.disabled = true;
  el.hangup.textContent = "Ending…";
  session.hangup();
});

el.wrapUpForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!session) return;
  el.ready.disabled = true;
  try {
    session.ready({ disposition: el.disposition.value, notes: el.notes.value.trim() });
  } catch (err) {
    el.error.textContent = err.words || "Could not finish the wrap-up.";
  }
});

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
    el.wrapUpTimer.textContent = `Wrap-up: you will be available again in ${left} s.`;
  };
  tick();
  wrapUpTicker = setInterval(tick, 1000);
}

el.availability.addEventListener("click", () => {
  if (!session) return;
  el.availability.disabled = true;
  try {
    session.setAvailability(session.state === "away" ? "available" : "away");
  } catch (err) {
    el.availability.disabled = false;
    el.error.textContent = err.words || "Could not change your availability.";
  }
});

function toggle(kind, button, onLabel, offLabel) {
  const stream = session && session.localStream;
  if (!stream) return;
  const tracks = kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
  const off = button.getAttribute("aria-pressed") !== "true";
  tracks.forEach((t) => (t.enabled = !off));
  button.setAttribute("aria-pressed", String(off));
  button.textContent = off ? offLabel : onLabel;
}
el.mute.addEventListener("click", () => toggle("audio", el.mute, "Mute", "Unmute"));
el.camera.addEventListener("click", () => toggle("video", el.camera, "Camera off", "Camera on"));

el.signinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = el.tokenInput.value.trim();
  if (!token) {
    el.error.textContent = "Paste a token first.";
    return;
  }
  signIn(async () => token, { pasted: true });
});

window.addEventListener("pagehide", () => session && session.leave());

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (session ? session.peer() : null),
  state: () => el.state.dataset.state,
  history: () => stateHistory.slice(),
  session: () => session,
});

// --- start ----------------------------------------------------------------------------

render("starting", "Signing in…");
demoToken().then(
  (token) => {
    if (token) {
      signIn(async () => token);
    } else {
      render("idle", "Not signed in");
      el.signin.hidden = false;
      el.tokenInput.focus();
    }
  },
  (err) => {
    render("error", err.words || "Could not sign in.");
    el.signin.hidden = false;
  }
);
