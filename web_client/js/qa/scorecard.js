// Scoring a call against the criteria, and the scorecards tab with per-agent averages.

import { h } from "../dom.js";
import { CRITERIA_WORDS, SCORE_WORDS, fmtDate, words } from "./format.js";
import { api, describe, el, showError, state } from "./page.js";
import { renderResults } from "./search.js";
import { agentCell, agentLabel } from "./people.js";

// ---- scorecard

export function criteriaOf(detail) {
  return Array.isArray(detail.criteria) && detail.criteria.length ? detail.criteria : Object.keys(CRITERIA_WORDS);
}

export function renderScorecard(detail) {
  const criteria = criteriaOf(detail);
  const card = detail.call?.scorecard || null;
  el.criteria.textContent = "";
  for (const name of criteria) {
    const [label, hint] = CRITERIA_WORDS[name] || [words(name), ""];
    const id = `score-${name}`;
    const select = h("select", { id, name, testid: id, "aria-describedby": hint ? `${id}-hint` : null },
      h("option", { value: "", text: "Not scored" }),
      [5, 4, 3, 2, 1, 0].map((n) => h("option", { value: String(n), text: `${n} — ${SCORE_WORDS[n]}` })));
    if (card?.scores && Number.isInteger(card.scores[name])) select.value = String(card.scores[name]);
    select.addEventListener("change", updateScoreTotal);
    el.criteria.append(h("div", { class: "criterion" },
      h("label", { for: id }, h("span", { class: "criterion-name", text: label }),
        hint ? h("span", { class: "criterion-hint", id: `${id}-hint`, text: hint }) : null),
      select));
  }
  el.scoreComment.value = card?.comment || "";
  el.scorecardMsg.textContent = "";
  el.saveScorecard.textContent = card ? "Update scorecard" : "Save scorecard";
  showSavedScorecard(card, criteria);
  updateScoreTotal();
}

export function collectScores() {
  const scores = {};
  for (const select of el.criteria.querySelectorAll("select")) {
    if (select.value !== "") scores[select.name] = Number(select.value);
  }
  return scores;
}

export function totalOf(scores) {
  const values = Object.values(scores);
  return values.length ? Math.round((values.reduce((a, b) => a + b, 0) / (5 * values.length)) * 100) : null;
}

export function updateScoreTotal() {
  const scores = collectScores();
  const total = totalOf(scores);
  const n = Object.keys(scores).length;
  const all = el.criteria.querySelectorAll("select").length;
  el.scoreTotal.textContent = total === null ? "Total: —" : `Total: ${total} %`;
  el.scoreTotal.title = `${n} of ${all} criteria scored`;
}

export function showSavedScorecard(card, criteria) {
  const box = el.savedScorecard;
  box.textContent = "";
  box.hidden = !card;
  if (!card) return;
  box.append(
    h("div", { class: "saved-head" },
      h("span", { class: `total-badge ${totalTone(card.total)}`, text: `${card.total} %` }),
      h("div", {},
        h("p", { class: "saved-title", text: "Saved scorecard" }),
        h("p", { class: "small muted", text: `by ${card.by || "?"} · ${fmtDate(card.at)}` }))),
    h("ul", { class: "saved-scores" }, criteria.filter((c) => c in (card.scores || {})).map((c) =>
      h("li", {}, h("span", { text: (CRITERIA_WORDS[c] || [words(c)])[0] }), scoreDots(card.scores[c])))),
    card.comment ? h("p", { class: "saved-comment", text: card.comment }) : null);
}

export function scoreDots(n) {
  return h("span", { class: "dots", role: "img", "aria-label": `${n} of 5`, title: `${n} of 5` },
    [0, 1, 2, 3, 4].map((i) => h("span", { class: i < n ? "dot on" : "dot" })));
}

export function totalTone(total) {
  if (total >= 80) return "good";
  if (total >= 60) return "fair";
  return "poor";
}

el.scorecardForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const scores = collectScores();
  if (!Object.keys(scores).length) {
    el.scorecardMsg.textContent = "Score at least one criterion before saving.";
    el.scorecardMsg.className = "form-msg bad";
    el.criteria.querySelector("select")?.focus();
    return;
  }
  const gen = state.gen;
  const callId = state.callId;
  el.saveScorecard.disabled = true;
  el.scorecardMsg.className = "form-msg";
  el.scorecardMsg.textContent = "Saving…";
  try {
    const data = await api(`/api/calls/${encodeURIComponent(callId)}/scorecard`, {
      method: "POST", body: { scores, comment: el.scoreComment.value.trim() },
    });
    state.scorecardsLoaded = false;
    const row = (state.results || []).find((r) => r.call_id === callId);
    if (row) {
      row.scored = true;
      renderResults();
    }
    if (gen !== state.gen) return;
    state.detail.call.scorecard = data.scorecard;
    showSavedScorecard(data.scorecard, criteriaOf(state.detail));
    el.saveScorecard.textContent = "Update scorecard";
    el.scorecardMsg.className = "form-msg ok";
    el.scorecardMsg.textContent = `Scorecard saved: ${data.scorecard.total} %.`;
  } catch (err) {
    if (gen !== state.gen) return;
    el.scorecardMsg.className = "form-msg bad";
    el.scorecardMsg.textContent = err.status === 401 || err.status === 403 ? "" : describe(err);
  } finally {
    el.saveScorecard.disabled = false;
  }
});

// ----------------------------------------------------------------------------- scorecards tab

export async function loadScorecards(force = false) {
  if (state.scorecardsLoaded && !force) return;
  el.scorecardsStatus.textContent = "Loading…";
  try {
    const data = await api("/api/scorecards");
    state.scorecardsLoaded = true;
    renderScorecards(data?.scorecards || []);
  } catch (err) {
    el.scorecardsStatus.textContent = "";
    if (err.status !== 401 && err.status !== 403) showError(describe(err));
  }
}

el.reloadScorecards.addEventListener("click", () => loadScorecards(true));

export function renderScorecards(cards) {
  cards = [...cards].sort((a, b) => (b.at || 0) - (a.at || 0));
  const criteria = [...new Set([...Object.keys(CRITERIA_WORDS), ...cards.flatMap((c) => Object.keys(c.scores || {}))])];
  const avg = cards.length ? Math.round(cards.reduce((s, c) => s + (c.total || 0), 0) / cards.length) : null;
  el.scorecardsStatus.textContent = cards.length
    ? `${cards.length} scorecard${cards.length === 1 ? "" : "s"} · average ${avg} %`
    : "No scorecards yet. Open a call and score it.";
  el.scorecardsHead.textContent = "";
  el.scorecardsHead.append(h("tr", {},
    h("th", { scope: "col", text: "Scored" }), h("th", { scope: "col", text: "Call" }),
    h("th", { scope: "col", text: "Agent" }), h("th", { scope: "col", class: "num", text: "Total" }),
    criteria.map((c) => h("th", { scope: "col", class: "center", title: (CRITERIA_WORDS[c] || [words(c)])[0],
      text: (CRITERIA_WORDS[c] || [words(c)])[0] })),
    h("th", { scope: "col", text: "Notes" }), h("th", { scope: "col", text: "By" })));
  el.scorecardsBody.textContent = "";
  if (!cards.length) {
    el.scorecardsBody.append(h("tr", { class: "empty" }, h("td", { colspan: criteria.length + 6 }, "Nothing scored yet.")));
  }
  for (const c of cards) {
    el.scorecardsBody.append(h("tr", { testid: `scorecard-row-${c.call_id}` },
      h("td", { class: "nowrap", text: fmtDate(c.at) }),
      h("td", {}, h("a", { href: `#/call/${encodeURIComponent(c.call_id)}`, class: "mono small", text: c.call_id })),
      h("td", {}, agentCell(c.agent_id)),
      h("td", { class: "num" }, h("span", { class: `total-badge small ${totalTone(c.total)}`, text: `${c.total} %` })),
      criteria.map((k) => h("td", { class: "center" }, Number.isInteger(c.scores?.[k]) ? scoreDots(c.scores[k]) : "—")),
      h("td", { class: "notes", title: c.comment || "", text: c.comment || "—" }),
      h("td", { class: "small", text: c.by_name || (c.by ? "QA staff" : "—"), title: c.by || "" })));
  }
  // per-agent averages
  el.agentAverages.textContent = "";
  const byAgent = new Map();
  for (const c of cards) {
    const key = c.agent_id || "—";
    byAgent.set(key, [...(byAgent.get(key) || []), c.total || 0]);
  }
  for (const [agent, totals] of byAgent) {
    const a = Math.round(totals.reduce((x, y) => x + y, 0) / totals.length);
    el.agentAverages.append(h("div", { class: "agent-avg" },
      h("span", { class: `total-badge ${totalTone(a)}`, text: `${a} %` }),
      h("div", {}, h("p", { class: "small", text: agent === "—" ? "No agent" : agentLabel(agent) }),
        h("p", { class: "small muted", text: `${totals.length} call${totals.length === 1 ? "" : "s"} scored` }))));
  }
}
