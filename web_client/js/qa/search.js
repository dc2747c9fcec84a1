// Finding recorded calls: the filters, the search and the results table.

import { h } from "../dom.js";
import { COMPOSITE_WORDS, OUTCOME_WORDS, chip, fmtDate, fmtDuration, stars, words } from "./format.js";
import { api, clearError, describe, el, showError, state } from "./page.js";
import { agentCell, fillFilters, learnAgent, loadPeople } from "./people.js";

// ----------------------------------------------------------------------------- search

export function dayStart(value) {
  if (!value) return null;
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d).getTime() / 1000;
}

el.searchForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  search();
});

el.searchForm.addEventListener("reset", () => {
  setTimeout(() => search(), 0);
});

export async function search() {
  const form = new FormData(el.searchForm);
  const params = new URLSearchParams();
  const from = dayStart(form.get("from"));
  const toDay = dayStart(form.get("to"));
  if (from !== null && toDay !== null && from > toDay) {
    showError("The “From” date is after the “To” date.");
    return;
  }
  const minD = form.get("min_duration");
  const maxD = form.get("max_duration");
  if (minD !== "" && maxD !== "" && Number(minD) > Number(maxD)) {
    showError("The shortest talk time is longer than the longest.");
    return;
  }
  if (from !== null) params.set("from", String(from));
  if (toDay !== null) params.set("to", String(toDay + 86400));
  for (const key of ["agent", "queue", "min_duration", "max_duration", "min_rating", "disposition", "has_recording", "limit"]) {
    const value = String(form.get(key) ?? "").trim();
    if (value !== "") params.set(key, value);
  }
  clearError();
  loadPeople();
  el.resultsStatus.textContent = "Searching…";
  el.resultsBody.closest("table").setAttribute("aria-busy", "true");
  try {
    const data = await api(`/api/recordings?${params}`);
    state.results = data?.calls || [];
    state.searched = true;
    renderResults();
  } catch (err) {
    el.resultsStatus.textContent = "";
    if (err.status !== 401 && err.status !== 403) showError(describe(err));
  } finally {
    el.resultsBody.closest("table").removeAttribute("aria-busy");
  }
}

export function compositeWord(row) {
  if (row.composite) return row.composite;
  return row.recorded ? "tracks" : "none";
}

export function renderResults() {
  const rows = state.results || [];
  el.resultsBody.textContent = "";
  const n = rows.length;
  el.resultsStatus.textContent = n === 0 ? "No calls match these filters." : `${n} call${n === 1 ? "" : "s"}, newest first`;
  if (n === 0) {
    el.resultsBody.append(h("tr", { class: "empty" },
      h("td", { colspan: 10 }, "No calls match these filters. Try a wider date range or clear a filter.")));
  }
  for (const r of rows) learnAgent(r.agent_id, r.agent_name);
  fillFilters();
  fillDatalist(el.dispositionsList, ["resolved", "follow_up", "sale", ...rows.map((r) => r.disposition)]);
  for (const row of rows) {
    const comp = compositeWord(row);
    const href = `#/call/${encodeURIComponent(row.call_id)}`;
    const tr = h("tr", { testid: `call-row-${row.call_id}`, class: "clickable", dataset: { callId: row.call_id } },
      h("td", { class: "nowrap" }, h("a", { href, class: "row-link", "data-open-call": row.call_id,
        testid: `open-call-${row.call_id}`, "aria-label": `Open call ${row.call_id} of ${fmtDate(row.created_at)}` },
      fmtDate(row.created_at))),
      h("td", {}, h("div", { class: "cell-title", text: row.title || "Untitled page" }),
        h("div", { class: "mono muted small", text: row.call_id })),
      h("td", {}, words(row.queue)),
      h("td", { testid: "result-agent" }, agentCell(row.agent_id, row.agent_name)),
      h("td", { class: "num" }, fmtDuration(row.duration_s)),
      h("td", {}, chip(OUTCOME_WORDS[row.outcome] || words(row.outcome), `outcome-${row.outcome}`)),
      h("td", {}, stars(row.rating)),
      h("td", {}, words(row.disposition)),
      h("td", {}, chip(COMPOSITE_WORDS[comp] || words(comp), `rec-${comp}`)),
      h("td", {}, row.scored ? chip("Scored", "ok") : h("span", { class: "muted", text: "—" })));
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return; // the link navigates by itself
      location.hash = href;
    });
    el.resultsBody.append(tr);
  }
}

export function fillDatalist(list, values) {
  const unique = [...new Set(values.filter((v) => typeof v === "string" && v))].sort();
  list.textContent = "";
  for (const v of unique) list.append(h("option", { value: v }));
}
