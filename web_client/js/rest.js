// REST calls to the Silkline server with a Bearer token (JSON in and out), photo uploads, and
// demo tokens; every refusal carries a sentence for people in `.words`. Plain ES module.

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

/** One JSON exchange with a Bearer token: resolves with {status, ok, data} (data null when the
 *  answer is not JSON); rejects only when the server cannot be reached (`.code` "network"). */
export async function requestJson(path, { token, method = "GET", body, base = location.href } = {}) {
  const headers = { Accept: "application/json" };
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
  return { status: res.status, ok: res.ok, statusText: res.statusText, data };
}

/** requestJson() for the consoles: the data, or a rejection with `.words` (and `.status`, `.code`). */
export async function api(path, options = {}) {
  const { status, ok, data } = await requestJson(path, options);
  if (!ok) {
    const err = data && data.error ? data.error : {};
    const words = {
      401: "Your session is not valid or has expired. Sign in again.",
      403: "You are not allowed to do that.",
      404: "Not found.",
    }[status] || `The server refused the request (HTTP ${status}).`;
    throw Object.assign(wordsError(err.message ? `${words} (${err.message})` : words, err.code || "http"), { status });
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

