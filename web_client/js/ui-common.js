// Small helpers shared by the widget, the agent console and the supervisor view: REST calls
// with a Bearer token, photos, and figures in words. Plain ES module, no dependencies.

export const MAX_PHOTO_BYTES = 5 * 1024 * 1024;
export const PHOTO_TYPES = ["image/jpeg", "image/png"];

const PHOTO_ERRORS = {
  too_large: "That photo is larger than 5 MB. Please choose a smaller one.",
  not_an_image: "That file is not a photo we can read. Please send a JPEG or PNG picture.",
  call_not_found: "Photos can be sent only during the call.",
  forbidden: "You cannot send photos in this call.",
  unauthorized: "Your session has expired, so the photo could not be sent.",
};

/** An Error carrying a sentence for people in `.words`. */
export function wordsError(words, code = "error") {
  return Object.assign(new Error(words), { words, code });
}

/** fetch() with a Bearer token; JSON in and out. Rejects with `.words` (and `.status`, `.code`). */
export async function api(path, { token, method = "GET", body, base = location.href } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(new URL(path, base).href, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_) {
    throw wordsError("Could not reach the Silkline server. Check the connection and try again.", "network");
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const words = {
      401: "Your session is not valid or has expired. Sign in again.",
      403: "You are not allowed to do that.",
      404: "Not found.",
    }[res.status] || `The server refused the request (HTTP ${res.status}).`;
    throw Object.assign(wordsError(err.message ? `${words} (${err.message})` : words, err.code || "http"), { status: res.status });
  }
  return data;
}

/** Checks a photo before upload; returns a sentence when it cannot be sent, else null. */
export function photoProblem(file) {
  if (!file) return "No file was chosen.";
  if (!PHOTO_TYPES.includes(file.type)) return "Only JPEG and PNG photos can be sent.";
  if (file.size > MAX_PHOTO_BYTES) {
    return `That photo is ${(file.size / 1048576).toFixed(1)} MB; photos can be at most 5 MB.`;
  }
  return null;
}

/** POST /api/calls/{id}/photos; resolves on 201, rejects with `.words`. */
export async function uploadPhoto(callId, file, token, base = location.href) {
  const problem = photoProblem(file);
  if (problem) throw wordsError(problem, "invalid");
  let res;
  try {
    res = await fetch(new URL(`/api/calls/${encodeURIComponent(callId)}/photos`, base).href, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": file.type },
      body: file,
    });
  } catch (_) {
    throw wordsError("The photo could not be sent (network problem). Please try again.", "network");
  }
  if (res.status === 201) return res.json();
  let code = null;
  try {
    code = (await res.json()).error.code;
  } catch (_) { /* not JSON */ }
  throw wordsError(PHOTO_ERRORS[code] || (res.status === 413 ? PHOTO_ERRORS.too_large : "The photo could not be sent. Please try again."), code || "http");
}

/** Fetches a photo with the token and returns a blob: URL (revoke it when done). */
export async function photoBlobUrl(path, token, base = location.href) {
  let res;
  try {
    res = await fetch(new URL(path, base).href, { headers: { Authorization: `Bearer ${token}` } });
  } catch (_) {
    throw wordsError("The photo could not be loaded (network problem).", "network");
  }
  if (!res.ok) throw wordsError("The photo could not be loaded.", "http");
  return URL.createObjectURL(await res.blob());
}

/** 75 -> "1:15"; 3725 -> "1:02:05". */
export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** Unix seconds (or now) as "14:05". */
export function timeOfDay(at) {
  const d = typeof at === "number" ? new Date(at * 1000) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** 2480, "EUR" -> "€2,480" (the number as given when the currency is unknown). */
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return null;
  const n = Number(amount);
  if (!currency || Number.isNaN(n)) return String(amount) + (currency ? ` ${currency}` : "");
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, minimumFractionDigits: 0, maximumFractionDigits: 2 }).format(n);
  } catch (_) {
    return `${n} ${currency}`;
  }
}

const QUEUE_NAMES = { jewellery: "Jewellery", electronics: "Electronics", general: "General" };
/** "jewellery" -> "Jewellery". */
export function queueName(queue) {
  if (!queue) return "–";
  return QUEUE_NAMES[queue] || queue.charAt(0).toUpperCase() + queue.slice(1).replace(/_/g, " ");
}

const AGENT_STATE_WORDS = {
  available: "Available",
  ringing: "Ringing",
  busy: "In a call",
  wrap_up: "Wrap-up",
  away: "Away",
  offline: "Offline",
};
export function agentStateWords(state) {
  return AGENT_STATE_WORDS[state] || state || "–";
}

const CALL_STATE_WORDS = {
  waiting: "Waiting",
  ringing: "Ringing",
  connecting: "Connecting",
  connected: "Connected",
  ended: "Ended",
};
export function callStateWords(state) {
  return CALL_STATE_WORDS[state] || state || "–";
}

/** Creates an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A link only for http(s) addresses (never javascript: and the like). */
export function safeLink(href, text) {
  if (typeof href === "string" && /^https?:\/\//i.test(href)) {
    return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text || href);
  }
  return document.createTextNode(text || href || "");
}

/** A demo token for `role` ("agent", "supervisor"), or null when the server has demo tokens
 *  switched off (404). Rejects with `.words`. */
export async function demoToken(role, name) {
  let res;
  try {
    res = await fetch("/api/demo/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ role, name }),
    });
  } catch (_) {
    throw wordsError("Could not reach the Silkline server.", "network");
  }
  if (res.status === 404) return null;
  if (!res.ok) {
    throw wordsError(`The server refused to sign you in (HTTP ${res.status}).`, "http");
  }
  return (await res.json()).token;
}

/** Mute / camera toggle: flips the local `kind` ("audio" or "video") tracks of `stream` and the
 *  button's aria-pressed and label. Returns true when now off, false when on, null without a stream. */
export function toggleTrack(stream, kind, button, onLabel, offLabel) {
  if (!stream) return null;
  const tracks = kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
  const off = button.getAttribute("aria-pressed") !== "true";
  tracks.forEach((t) => (t.enabled = !off));
  button.setAttribute("aria-pressed", String(off));
  button.textContent = off ? offLabel : onLabel;
  return off;
}

/** Wires the two sign-in forms of the consoles: a name for a demo token (`onName(name)`) or a
 *  pasted token (`onToken(token)`); an empty field gets a sentence through `setError`. */
export function wireSignInForms({ demoForm, nameInput, tokenForm, tokenInput, setError, onName, onToken, focusEmptyName = false }) {
  demoForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      setError("Type your name first.");
      if (focusEmptyName) nameInput.focus();
      return;
    }
    onName(name);
  });
  tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) {
      setError("Paste a token first.");
      return;
    }
    onToken(token);
  });
}
