// The shopper's rating of a call (POST /api/calls/{id}/rating), refusals in words.

import { describeError } from "../call/protocol.js";
import { requestJson } from "../rest.js";

const refused = (words) => Object.assign(new Error(words), { words });

/** Resolves when the rating is stored (or was already: another tab); rejects with `.words`. */
export async function sendRating(server, callId, token, score, comment) {
  let answer;
  try {
    answer = await requestJson(`/api/calls/${encodeURIComponent(callId)}/rating`,
      { token, method: "POST", body: { score, comment }, base: server });
  } catch (_) {
    throw refused("Your rating could not be sent (network problem). Please try again.");
  }
  const { status, data } = answer;
  if (status === 201 || status === 409) return; // 409: already rated — done either way
  const error = data && data.error;
  throw refused((error && describeError(error.code, error.message)) || "Your rating could not be sent. Please try again.");
}
