// The shopper's rating of a call (POST /api/calls/{id}/rating), refusals in words, and the
// widget's stars form that sends it.

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

/** The stars show `score` (0: none). */
export function setScore(w, score) {
  w.score = score;
  if (score) w.view.rateError = "";
  const words = ["", "Poor", "Fair", "Good", "Very good", "Excellent"];
  for (const star of w.el.stars) {
    const n = Number(star.dataset.score);
    star.setAttribute("aria-pressed", String(n === score));
    star.classList.toggle("sl-lit", n <= score);
  }
  w.el.starWords.textContent = score ? `${score} of 5 — ${words[score]}` : "";
}

/** Sends the rating; the thanks show, or the refusal in words next to the form. */
export async function submitRating(w) {
  const el = w.el;
  w.show({ rateError: "" });
  if (!w.score) {
    w.show({ rateError: "Please choose 1 to 5 stars first." });
    el.stars[4].focus();
    return;
  }
  const s = w.session;
  if (!s || !s.callId || !s.token) return;
  el.rateSubmit.disabled = true;
  try {
    await sendRating(w.config.server, s.callId, s.token, w.score, el.rateComment.value.trim());
  } catch (err) {
    w.show({ rateError: err.words });
    el.rateSubmit.disabled = false;
    return;
  }
  w.rated = true;
  w.show({ thanksTitle: "Thank you for your feedback!", thanksText: "It helps us give you better advice next time." });
  w.render();
  queueMicrotask(() => el.thanks.focus());
}
