// Silkline agent console: sign in, take calls, talk face to face, chat and photos, transfer,
// wrap up, and work through callback requests.
//
// The page composes the shared pieces (sign-in, chat log, the agent's presence on the server)
// around one state object; `render()` writes the DOM from it, handlers change the state.
//
// Staff sign in with an account (agent/sign-in.js). Query parameters: ?name=Ann (demo servers on
// loopback: sign in at once with a demo token under this name),
// ?debug (log protocol traffic to the console).
//
// This module wires the controls; agent/page.js holds the state and render(), agent/presence.js
// the presence on the server.

import { renderBadges, renderContext, renderHistory } from "./agent/call-context.js";
import { addHistory, el, render, resetCall, setCallState, setError, state } from "./agent/page.js";
import { inTheCall, signIn } from "./agent/presence.js";
import { account } from "./agent/sign-in.js";
import { resetTransfer } from "./agent/transfer.js";
import { SignIn } from "./components/sign-in.js";
import { setTracksEnabled } from "./components/video-tile.js";
import { demoToken, uploadPhoto } from "./rest.js";

const params = new URLSearchParams(location.search);

// --- handlers ---------------------------------------------------------------------------

el.accept.addEventListener("click", () => {
  const s = state.presence;
  if (!s || !state.offered) return;
  state.current = state.offered;
  state.answering = true;
  state.error = "";
  resetCall();
  resetTransfer();
  renderBadges(el.callBadges, state.current);
  renderContext(el.callContext, state.current);
  renderHistory(el.callHistory, el.callHistoryNote, state.current.pastCalls);
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

el.wrapUpForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = state.presence;
  if (!s) return;
  state.wrapUpSending = true;
  clearTimeout(draftTimer);
  render();
  try {
    s.ready({ disposition: el.disposition.value, notes: el.notes.value.trim() });
  } catch (err) {
    state.wrapUpSending = false;
    setError(err.words || "Could not finish the wrap-up.");
  }
});

// After-call work is never lost: while the notes have focus and change, the server is told
// (at most every 3 s) so the countdown pauses, and gets the draft (debounced) to file if the
// time runs out.
const TYPING_EVERY_MS = 3000;
const DRAFT_AFTER_MS = 700;
let lastTypingAt = 0;
let draftTimer = null;

function wrapUpTyping() {
  const s = state.presence;
  if (!s || !s.wrapUp) return;
  const now = Date.now();
  if (now - lastTypingAt >= TYPING_EVERY_MS) {
    lastTypingAt = now;
    s.wrapUpTyping();
  }
}

function wrapUpDraftSoon() {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(() => {
    const s = state.presence;
    if (s && s.wrapUp) s.wrapUpDraft({ disposition: el.disposition.value, notes: el.notes.value.trim() });
  }, DRAFT_AFTER_MS);
}

el.notes.addEventListener("focus", () => wrapUpTyping());
el.notes.addEventListener("input", () => {
  wrapUpTyping();
  wrapUpDraftSoon();
});
el.disposition.addEventListener("change", () => wrapUpDraftSoon());

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
  state.presence.announceMedia({ audio: !state.muted, video: !state.cameraOff });
  render();
});
el.camera.addEventListener("click", () => {
  const stream = state.presence && state.presence.localStream;
  if (!stream) return;
  state.cameraOff = !state.cameraOff;
  setTracksEnabled(stream, "video", !state.cameraOff);
  state.presence.announceMedia({ audio: !state.muted, video: !state.cameraOff });
  render();
});

async function demoSignIn(name) {
  state.error = "";
  setCallState("starting", "Signing in…");
  try {
    const token = await demoToken("agent", name);
    if (!token) {
      Object.assign(state, {
        signInOpen: true,
        demoHint: "Demo sign-in is switched off on this server. Paste the agent token your administrator gave you.",
      });
      setCallState("idle", "Not signed in");
      el.tokenDetails.open = true; // like focus: a one-off move, not state
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
  el.accountUsername.focus();
  account.start();
}
