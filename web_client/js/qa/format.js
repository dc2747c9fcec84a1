// Words and figures of the QA page: outcomes, end reasons, roles, criteria, dates and
// durations, chips and stars, the timeline's marker types and their icons.

import { h } from "../dom.js";

// ----------------------------------------------------------------------------- words

export const CRITERIA_WORDS = {
  greeting: ["Greeting", "Introduced themselves, warm and clear opening"],
  product_knowledge: ["Product knowledge", "Accurate, confident answers about the product"],
  problem_solved: ["Problem solved", "The shopper left with an answer or a next step"],
  courtesy: ["Courtesy", "Patient, polite, listened without interrupting"],
  compliance: ["Compliance", "Consent, no card numbers on record, no promises off policy"],
};
export const SCORE_WORDS = { 0: "Not done", 1: "Poor", 2: "Below standard", 3: "Meets standard", 4: "Good", 5: "Excellent" };
export const OUTCOME_WORDS = { answered: "Answered", abandoned: "Abandoned", callback: "Callback" };
export const END_WORDS = {
  hang_up: "Hang-up",
  peer_gone: "Connection lost",
  timeout: "Timed out",
  node_drain: "Server restart",
  error: "Error",
  unavailable: "Nobody available",
  callback: "Callback requested",
  transferred: "Transferred",
};
export const ROLE_WORDS = { shopper: "Shopper", agent: "Agent", supervisor: "Supervisor", recorder: "Recorder" };
export const COMPOSITE_WORDS = {
  complete: "Ready to play",
  composing: "Composing",
  failed: "Composition failed",
  tracks: "Tracks only",
  none: "Not recorded",
};

export const MARKER_TYPES = {
  joined: { lane: "call", label: "Joined" },
  transferred: { lane: "call", label: "Transferred" },
  reconnecting: { lane: "call", label: "Connection trouble" },
  migrated: { lane: "call", label: "Media moved" },
  media: { lane: "call", label: "Camera / microphone" },
  "hang-up": { lane: "call", label: "Hang-up" },
  chat: { lane: "chat", label: "Chat" },
  photo: { lane: "photos", label: "Photo" },
  snapshot: { lane: "photos", label: "Snapshot" },
  recording_paused: { lane: "recording", label: "Recording paused" },
  recording_resumed: { lane: "recording", label: "Recording resumed" },
  monitor: { lane: "supervisor", label: "Supervisor" },
  monitor_silent: { lane: "supervisor", label: "Silent monitoring" },
  monitor_whisper: { lane: "supervisor", label: "Whisper to the agent" },
  monitor_barge: { lane: "supervisor", label: "Barge-in" },
  monitor_left: { lane: "supervisor", label: "Supervisor left" },
};
export const LANES = [
  ["call", "Call"],
  ["chat", "Chat"],
  ["photos", "Photos"],
  ["recording", "Recording"],
  ["supervisor", "Supervisor"],
];

// Small inline icons (static markup, never data).
export const ICONS = {
  joined: '<path d="M5 12h9m0 0-3.5-3.5M14 12l-3.5 3.5M17 5v14"/>',
  "hang-up": '<path d="M4 14c4.5-4 11.5-4 16 0l-2 2.5-3-1.5v-2.2a9 9 0 0 0-6 0V15l-3 1.5z"/>',
  transferred: '<path d="M4 8h13m0 0-3-3m3 3-3 3M20 16H7m0 0 3-3m-3 3 3 3"/>',
  media: '<path d="M4 7h11v10H4zM15 10l5-3v10l-5-3M3 3l18 18"/>',
  migrated: '<path d="M3 6h7v5H3zM14 13h7v5h-7zM6.5 11v4.5H14M17.5 13V8.5H10"/>',
  reconnecting: '<path d="M5 9a10 10 0 0 1 14 0M8 12.5a5.5 5.5 0 0 1 8 0M12 16.5h.01M4 4l16 16"/>',
  chat: '<path d="M5 5h14v10H10l-4 4v-4H5z"/>',
  photo: '<path d="M4 8h3l2-2.5h6L17 8h3v11H4z"/><circle cx="12" cy="13" r="3.2"/>',
  snapshot: '<path d="M4 8V4h4M16 4h4v4M20 16v4h-4M8 20H4v-4"/><circle cx="12" cy="12" r="3"/>',
  recording_paused: '<path d="M9 6v12M15 6v12"/>',
  recording_resumed: '<path d="M8 5.5v13l10.5-6.5z"/>',
  monitor: '<path d="M2.5 12S6 5.5 12 5.5 21.5 12 21.5 12 18 18.5 12 18.5 2.5 12 2.5 12z"/><circle cx="12" cy="12" r="2.8"/>',
  monitor_silent: '<path d="M2.5 12S6 5.5 12 5.5 21.5 12 21.5 12 18 18.5 12 18.5 2.5 12 2.5 12z"/><circle cx="12" cy="12" r="2.8"/>',
  monitor_whisper: '<path d="M6 9a6 6 0 1 1 9 5.2c-1.2.7-2 1.6-2 3a2.5 2.5 0 0 1-5 0"/><path d="M9.5 9a2.5 2.5 0 0 1 5 0"/>',
  monitor_barge: '<path d="M3 10v4h3l6 4V6L6 10zM16 8.5a5 5 0 0 1 0 7M19 6a8.5 8.5 0 0 1 0 12"/>',
  monitor_left: '<path d="M10 5H5v14h5M14 8l4 4-4 4M18 12H9"/>',
};

const SVG_NS = "http://www.w3.org/2000/svg";
const parser = new DOMParser();

/** A small icon from the static ICONS (parsed as SVG, never as HTML, never from data). */
export function icon(name) {
  const span = document.createElement("span");
  span.className = "icon";
  span.setAttribute("aria-hidden", "true");
  const doc = parser.parseFromString(
    `<svg xmlns="${SVG_NS}" viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor"
    stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name] || ICONS.chat}</svg>`,
    "image/svg+xml");
  span.append(document.importNode(doc.documentElement, true));
  return span;
}

export const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const dateTimeSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function fmtDate(unix, seconds = false) {
  if (typeof unix !== "number") return "—";
  return (seconds ? dateTimeSeconds : dateTime).format(new Date(unix * 1000));
}

export function fmtClock(s, tenths = false) {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const whole = Math.floor(s);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  const head = hours ? `${hours}:${String(minutes).padStart(2, "0")}` : `${minutes}`;
  return `${head}:${secs}${tenths ? "." + Math.floor((s - whole) * 10) : ""}`;
}

export function fmtDuration(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "—";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function words(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value).replace(/[_-]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function stars(score) {
  if (typeof score !== "number") return h("span", { class: "muted", text: "—" });
  const n = Math.max(0, Math.min(5, Math.round(score)));
  return h("span", { class: "stars", role: "img", "aria-label": `${n} of 5 stars`, title: `${n} of 5` },
    h("span", { class: "on", text: "★".repeat(n) }), h("span", { class: "off", text: "★".repeat(5 - n) }));
}

export function chip(text, tone = "", extra = {}) {
  return h("span", { class: `chip ${tone}`.trim(), ...extra }, text);
}

export function roleOf(name) {
  return ROLE_WORDS[name] || words(name);
}
