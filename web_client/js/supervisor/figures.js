// Figures over a period (GET /api/figures): totals, per queue and per agent, and two charts.

import { h } from "../dom.js";
import { api } from "../rest.js";
import { clock, queueName } from "../words.js";
import { barChart } from "./bar-chart.js";
import { agentLabel, el, kpi, setError, state } from "./page.js";

function isoDate(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
(() => {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  el.fromDate.value = isoDate(weekAgo);
  el.toDate.value = isoDate(today);
})();

/** Revenue after calls, per currency: "€1,234.50 · $7.25"; "–" for none. */
export function revenueWords(revenue) {
  const parts = Object.entries(revenue || {}).map(([currency, amount]) => {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(amount));
    } catch (_) {
      return `${amount} ${currency}`;
    }
  });
  return parts.length ? parts.join(" · ") : "–";
}

const percent = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`);

const FIGURE_COLUMNS = [
  ["offered", "Offered", (v) => String(v ?? 0)],
  ["answered", "Answered", (v) => String(v ?? 0)],
  ["abandoned", "Abandoned", (v) => String(v ?? 0)],
  ["callbacks", "Callbacks", (v) => String(v ?? 0)],
  ["average_speed_of_answer_s", "Avg. speed of answer", (v) => (v === null || v === undefined ? "–" : clock(v))],
  ["average_handle_s", "Avg. handle time", (v) => (v === null || v === undefined ? "–" : clock(v))],
  ["service_level", "Service level", (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`)],
  ["average_rating", "Avg. rating", (v, row) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ★ (${row.ratings})`)],
  ["conversion_rate", "Conversion", (v, row) => (v === null || v === undefined ? "–" : `${percent(v)} (${row.converted || 0})`)],
  ["revenue_after_calls", "Revenue after calls", (v) => revenueWords(v)],
];

function figuresTable(table, rows, firstHeader) {
  table.tHead.replaceChildren(h("tr", {}, h("th", { scope: "col" }, firstHeader),
    FIGURE_COLUMNS.map(([, label]) => h("th", { scope: "col", class: "num" }, label))));
  const tbody = table.tBodies[0];
  if (!rows.length) {
    tbody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: FIGURE_COLUMNS.length + 1 }, "No finished calls in this period.")));
    return;
  }
  tbody.replaceChildren(...rows.map(([name, row]) => h("tr", { "data-key": name },
    h("th", { scope: "row" }, name),
    FIGURE_COLUMNS.map(([k, , fmt]) => h("td", { class: "num", "data-col": k }, fmt(row[k], row))))));
}

async function agentNamesFor(from, to) {
  // Agents who signed out are not on the live board: their names are in the call records.
  try {
    const data = await api(`/api/calls?from=${from}&to=${to}&limit=1000`, { token: state.token });
    for (const call of data.calls || []) {
      for (const ev of call.events || []) {
        if (ev.type === "accepted" && ev.agent_id && ev.name && !state.agentNames.has(ev.agent_id)) state.agentNames.set(ev.agent_id, ev.name);
      }
    }
  } catch (_) { /* ids then */ }
}

el.figuresForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  setError("");
  if (!el.fromDate.value || !el.toDate.value) {
    el.figuresNote.textContent = "Choose both dates.";
    return;
  }
  const from = new Date(`${el.fromDate.value}T00:00:00`);
  const to = new Date(`${el.toDate.value}T23:59:59.999`);
  if (to < from) {
    el.figuresNote.textContent = "The end date is before the start date.";
    el.toDate.focus();
    return;
  }
  const fromS = Math.floor(from.getTime() / 1000);
  const toS = Math.ceil(to.getTime() / 1000);
  el.figuresNote.textContent = "Loading…";
  let data;
  try {
    [data] = await Promise.all([api(`/api/figures?from=${fromS}&to=${toS}`, { token: state.token }), agentNamesFor(fromS, toS)]);
  } catch (err) {
    el.figuresNote.textContent = "";
    setError(err.words);
    return;
  }
  const t = data.total || {};
  el.figuresOut.hidden = false;
  el.figuresNote.textContent = `${from.toLocaleDateString()} – ${to.toLocaleDateString()}: ${t.offered || 0} ${t.offered === 1 ? "call" : "calls"}. Service level = answered within ${data.service_level_threshold_s || 20} s, of all offered. Conversion = answered calls a shop's order followed, of all answered.`;
  el.figuresKpis.replaceChildren(
    kpi("Offered", String(t.offered || 0)),
    kpi("Answered", String(t.answered || 0), "ok"),
    kpi("Abandoned", String(t.abandoned || 0), t.abandoned ? "warn" : ""),
    kpi("Callbacks", String(t.callbacks || 0)),
    kpi("Service level", t.service_level === null || t.service_level === undefined ? "–" : `${Math.round(t.service_level * 100)} %`),
    kpi("Avg. rating", t.average_rating ? `${t.average_rating.toFixed(1)} ★` : "–"),
    kpi("Conversion", percent(t.conversion_rate), t.converted ? "ok" : ""),
    kpi("Revenue after calls", revenueWords(t.revenue_after_calls)),
  );
  const queues = Object.entries(data.queues || {});
  const agents = Object.entries(data.agents || {});
  figuresTable(el.figuresQueues, queues.map(([k, v]) => [queueName(k), v]), "Queue");
  figuresTable(el.figuresAgents, agents.map(([k, v]) => [agentLabel(k), v]), "Agent");
  const groups = queues.map(([k, v]) => ({ name: queueName(k), values: v }));
  if (!groups.length) {
    el.chart.replaceChildren(h("p", { class: "hint" }, "No finished calls in this period."));
    el.slChart.replaceChildren(h("p", { class: "hint" }, "No finished calls in this period."));
  } else {
    barChart(el.chart, groups, [
      { key: "answered", label: "Answered", cls: "s-ok" },
      { key: "abandoned", label: "Abandoned", cls: "s-bad" },
      { key: "callbacks", label: "Callbacks", cls: "s-warn" },
    ], { label: `Calls per queue: ${groups.map((g) => `${g.name} ${g.values.answered || 0} answered, ${g.values.abandoned || 0} abandoned, ${g.values.callbacks || 0} callbacks`).join("; ")}` });
    barChart(el.slChart, groups.map((g) => ({ name: g.name, values: { sl: Math.round((g.values.service_level || 0) * 100) } })),
      [{ key: "sl", label: "Service level", cls: "s-accent" }],
      { max: 100, format: (v) => `${Math.round(v)}%`, label: `Service level per queue: ${groups.map((g) => `${g.name} ${Math.round((g.values.service_level || 0) * 100)} percent`).join("; ")}` });
  }
});
