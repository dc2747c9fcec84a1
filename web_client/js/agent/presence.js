// The agent's presence on the server (AgentPresence): signing in, and what each of its events
// does to the console's state.

import { AgentPresence } from "../call/agent-presence.js";
import { clock, queueName } from "../words.js";
import * as annotations from "./annotations.js";
import { onTransferError, transferCallState } from "./transfer.js";
import { loadHistory, renderBadges, renderContext, renderHistory } from "./call-context.js";
import {
  IN_CALL, addHistory, callbacks, chat, el, render, renderQueues, setAgentState, setCallState, setError, state,
} from "./page.js";

const debug = new URLSearchParams(location.search).has("debug");

// --- the presence on the server ---------------------------------------------------------

export function signIn(getToken, { pasted = false, name = null } = {}) {
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
      state.signInOpen = true;
      setCallState("error", "That token was not accepted: it may be mistyped, expired, or not an agent token. Paste a new one.");
      el.tokenDetails.open = true;
      el.tokenInput.focus();
      return;
    }
    // The server announces wrap-up, available and away; ringing and busy follow from the call.
    if (st.state === "ringing") state.agentState = "ringing";
    if (IN_CALL.has(st.state) && state.agentState !== "busy") state.agentState = "busy";
    if (st.state === "error") Object.assign(state, { signInOpen: true, joined: false, agentState: "offline" });
    setCallState(st.state, st.words);
    annotations.callState(st.state, state.current);
    transferCallState(st.state);
  }));
  s.on("joined", mine((m) => {
    Object.assign(state, { agentName: m.name || state.agentName || "Agent", joined: true, signInOpen: false });
    if (m.state) state.agentState = m.state;
    renderQueues(m.queues);
    render();
    callbacks.load(s.token);
  }));
  s.on("agent-state", mine((m) => {
    if (m.disposition === "timed_out") addHistory("The wrap-up time ran out: your notes so far were saved to the call record.");
    setAgentState(m.state);
  }));
  s.on("call-offered", mine((m) => {
    state.offered = { ...m, receivedAt: Date.now(), pastCalls: null };
    renderBadges(el.incomingBadges, m);
    renderContext(el.context, m);
    renderHistory(el.ringHistory, el.ringHistoryNote, null);
    loadHistory(m.call_id, s.token).then((history) => {
      const call = [state.offered, state.current].find((c) => c && c.call_id === m.call_id);
      if (!call) return;
      call.pastCalls = history;
      renderHistory(el.ringHistory, el.ringHistoryNote, history);
      if (state.current === call) renderHistory(el.callHistory, el.callHistoryNote, history);
    });
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
    annotations.onError(e);
    if (onTransferError(e)) return;
    setError(e.message && e.code === "invalid_state" ? `${e.words} (${e.message})` : e.words);
  }));
  s.start().catch((err) => {
    if (state.presence === s && s.state !== "error") s.fail(err);
  });
}

export function onMessage(m) {
  switch (m.type) {
    case "chat":
      chat.addChat(m);
      break;
    case "photo":
      chat.addPhoto(m);
      if (m.kind === "snapshot") state.snapshotBusy = false;
      render();
      annotations.onPhoto(m);
      break;
    case "annotation":
      annotations.onAnnotation(m);
      break;
    case "media-state":
      if (m.role === "shopper") {
        state.remoteMedia = { audio: m.audio, video: m.video };
        render();
      }
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
export function inTheCall(fn) {
  const s = state.presence;
  if (!s || !s.callId) return;
  try {
    fn(s, s.callId);
  } catch (err) {
    setError(err.words);
  }
}
