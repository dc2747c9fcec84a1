// Rendering the widget's panel from its state: which parts show, what they say, the queue
// position and the waited time, the recording indicator. Nothing here changes the state.

import { renderMediaLabel, renderToggle } from "../components/video-tile.js";
import { clock } from "../words.js";

export const LIVE = new Set(["starting", "waiting", "ringing", "connecting", "connected", "reconnecting"]);
const QUEUED = new Set(["starting", "waiting", "ringing"]);

export const STATE_WORDS = {
  idle: "Not in a call",
  choose: "Choose how to talk",
  starting: "Starting your call…",
  waiting: "Waiting for an expert",
  ringing: "An expert is being connected…",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  unavailable: "No expert available",
  "callback-sent": "Callback requested",
  ended: "Call ended",
  error: "The call could not go on",
};

// A rating is asked only after a call that ended normally (somebody hung up), never after one
// the service dropped (a restart, a fault, the other side's connection gone for good).
const NORMAL_ENDS = new Set(["hang_up"]);
const DROPPED_WORDS = {
  error: "The call was dropped because of a problem on our side. We're sorry — please call again.",
  node_drain: "The call was dropped: our service restarted. We're sorry — please call again.",
};

/** Whether the shopper may rate the call that just ended. */
export function mayRate(w) {
  return w.answered && NORMAL_ENDS.has(w.endReason);
}

/** Words for an answered call the service dropped (null: the usual words say it). */
export function droppedWords(reason) {
  return DROPPED_WORDS[reason] || null;
}

function minutesWords(seconds) {
  if (seconds === null || seconds === undefined) return null;
  if (seconds < 45) return "less than a minute";
  const m = Math.round(seconds / 60);
  return m <= 1 ? "about a minute" : `about ${m} minutes`;
}

export function renderPanel(w) {
  const el = w.el;
  const state = w.state;
  el.rootDiv.dataset.state = state;
  el.state.dataset.state = state;
  el.state.textContent = state === "error" ? STATE_WORDS.error : w.words;

  const live = LIVE.has(state);
  const queued = QUEUED.has(state) && !w.answered;
  const talking = live && w.answered;
  const voice = w.mode === "audio";
  el.call.disabled = live;
  el.x.hidden = live;

  el.choose.hidden = state !== "choose";
  renderAvailability(w);
  el.stage.hidden = !live;
  el.stage.classList.toggle("sl-voice", voice);
  const preview = w.devicesReady && w.preJoin;
  el.devices.hidden = !preview;
  el.preview.hidden = !(preview && !voice);
  el.stage.classList.toggle("sl-previewing", preview && !voice);
  el.local.hidden = voice || !live || (preview && !voice);
  el.voiceBadge.hidden = !(voice && talking);
  renderMediaLabel(el.remoteMedia, talking ? w.remoteMedia : null);

  const placeholder = {
    starting: voice ? "Starting your microphone…" : "Starting your camera…",
    waiting: w.answered ? "Transferring you to a colleague…" : "Waiting for an expert…",
    ringing: "An expert is being connected…",
    connecting: voice ? "Connecting…" : "Connecting video…",
    reconnecting: "Reconnecting…",
  }[state];
  el.placeholder.hidden = !placeholder;
  el.placeholderText.textContent = placeholder || "";
  el.placeholder.classList.toggle("sl-busy", !!placeholder);
  renderQueue(w);

  el.controls.hidden = !talking;
  el.hangup.disabled = false;
  el.hangup.textContent = "Hang up";
  el.camera.hidden = voice;
  renderToggle(el.mute, w.muted, "Mute", "Unmute");
  renderToggle(el.camera, w.cameraOff, "Camera off", "Camera on");
  el.local.classList.toggle("sl-off", w.cameraOff);
  el.local.classList.toggle("sl-back", w.backCamera);
  el.switchCam.hidden = voice || !(w.cameras > 1);

  el.waitActions.hidden = !queued;
  el.cancel.disabled = false;
  el.callbackInstead.hidden = w.callbackOpen || state === "starting";

  el.chat.hidden = !talking;
  el.cbForm.hidden = !(state === "unavailable" || (queued && w.callbackOpen));
  el.cbBack.hidden = state === "unavailable";
  el.cbTitle.textContent = state === "unavailable" ? "Leave a callback request" : "We'll call you back";
  el.cbHint.textContent = state === "unavailable"
    ? "Leave your details and an expert will call you back as soon as possible."
    : "Leave your details and an expert will call you back as soon as possible. This gives up your place in the queue.";

  el.rateForm.hidden = !(state === "ended" && mayRate(w) && !w.rated);
  el.download.hidden = !(state === "ended" && w.answered);
  el.thanks.hidden = !(state === "callback-sent" || (state === "ended" && w.rated));
  el.thanks.tabIndex = -1;
  el.after.hidden = live || state === "idle" || state === "choose";
  el.again.textContent = state === "error" ? "Try again" : "Call again";
  renderRecording(w);
  renderView(w);
}

function renderView(w) {
  const el = w.el;
  const v = w.view;
  el.title.textContent = v.title;
  el.error.textContent = v.error;
  el.notice.textContent = v.notice;
  el.superNotice.hidden = !v.supervisorNotice;
  el.superNotice.textContent = v.supervisorNotice || "";
  el.consent.hidden = !v.consent;
  el.consentYes.disabled = el.consentNo.disabled = v.consent !== "asked";
  el.cbError.textContent = v.cbError;
  el.rateError.textContent = v.rateError;
  el.thanksTitle.textContent = v.thanksTitle;
  el.thanksText.textContent = v.thanksText;
}

/** Before calling: "2 experts online", or "back at 09:00" and the callback instead of a call. */
export function renderAvailability(w) {
  const el = w.el;
  const a = w.availability;
  const closed = !!(a && !a.open);
  el.availability.hidden = !a;
  if (a) {
    const n = a.online;
    el.availability.textContent = !closed ? `${n} ${n === 1 ? "expert" : "experts"} online`
      : a.opens_at ? `Our experts are back at ${a.opens_at}. Leave a callback request and we'll call you.`
        : "No expert is online right now. Leave a callback request and we'll call you.";
  }
  el.availability.dataset.open = closed ? "false" : "true";
  el.chooseTitle.hidden = closed;
  el.modeVideo.hidden = closed;
  el.modeVoice.hidden = closed;
  el.callbackNow.hidden = !closed;
}

export function renderQueue(w) {
  const q = w.queue;
  const el = w.el;
  if (!q || w.state !== "waiting") {
    el.queue.textContent = "";
    el.waited.textContent = "";
    return;
  }
  if (q.callbackOffered) {
    // Nobody can answer now (all away, the ring missed): no "you're next" promise.
    el.queue.textContent = "No expert can answer right now. Leave a callback request and we'll call you back.";
    renderWaited(w);
    return;
  }
  const where = q.position <= 1 ? "You're next in line." : `You are number ${q.position} in line.`;
  const estimate = minutesWords(q.estimate);
  el.queue.textContent = estimate ? `${where} Estimated wait: ${estimate}.` : `${where} We can't estimate the wait yet.`;
  renderWaited(w);
}

export function renderWaited(w) {
  const q = w.queue;
  if (!q || w.state !== "waiting") return;
  const waited = (q.waited || 0) + (Date.now() - w.queueAt) / 1000;
  w.el.waited.textContent = `Waiting for ${clock(waited)}`;
}

export function renderRecording(w) {
  const rec = w.el.rec;
  const on = w.recording === "on" && LIVE.has(w.state);
  const paused = w.recording === "paused" && LIVE.has(w.state);
  rec.hidden = !(on || paused);
  rec.dataset.state = on ? "on" : paused ? "paused" : "off";
  rec.textContent = on ? "● Recording" : paused ? "Recording paused" : "";
}
