// The shopper's rating of a call (POST /api/calls/{id}/rating), refusals in words.

import { describeError } from "../call/protocol.js";

/** Resolves when the rating is stored (or was already: another tab); rejects with `.words`. */
export async function sendRating(server, callId, token, score, comment) {
  const refused = (words) => Object.assign(new Error(words), { words });
  let res;
  try {
    res = await fetch(new URL(`/api/calls/${encodeURIComponent(callId)}/rating`, server).href, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ score, comment }),
    });
  } catch (_) {
    throw refused("Your rating could not be sent (network problem). Please try again.");
  }
  if (res.status === 201 || res.status === 409) return; // 409: already rated — done either way
  let message = null;
  try {
    const body = await res.json();
    message = body.error && describeError(body.error.code, body.error.message);
  } catch (_) { /* not JSON */ }
  throw refused(message || "Your rating could not be sent. Please try again.");
}
