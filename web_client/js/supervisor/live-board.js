// The live picture: KPIs, queues, agents and calls from the pushed `dashboard`, one <tr> per
// key so that buttons keep their focus across updates; the times move on between pushes.

import { h } from "../dom.js";
import { agentStateWords, callStateWords, clock, queueName, timeOfDay } from "../words.js";
import { agentLabel, el, elapsed, kpi, state } from "./page.js";

let onMonitor = () => {};

/** The customer of a board row in words: the shop's name for them, else a readable fallback. */
export function shopperLabel(c) {
  if (c.shopper_name) return c.shopper_name;
  return c.customer_id ? "Signed-in customer" : "Guest shopper";
}

/** What a "Monitor" button does (the page composes the monitor in). */
export function onMonitorClick(fn) {
  onMonitor = fn;
}

// While the connection is lost the board keeps its last picture, marked stale (greyed rows, a
// banner in words, times frozen) until the next `dashboard` after the re-join replaces it.
const staleMarker = h("p", { class: "stale-marker", "data-testid": "stale-marker", role: "status", hidden: true });
el.liveAt.after(staleMarker);

/** The connection is gone: what the board shows is no longer live. */
export function markStale(words = "Reconnecting…") {
  state.stale = true;
  renderStale(words);
}

function renderStale(words) {
  const stale = !!state.stale && !!state.board;
  el.live.dataset.stale = String(stale);
  for (const tr of el.live.querySelectorAll("tbody tr[data-key]")) tr.dataset.stale = String(stale);
  staleMarker.hidden = !stale;
  staleMarker.textContent = stale
    ? `Stale: ${words} These figures are from ${timeOfDay(state.board.at)} and may be out of date.` : "";
}

export function onDashboard(m) {
  state.stale = false;
  state.board = { ...m, receivedAt: Date.now() };
  for (const a of m.agents || []) state.agentNames.set(a.agent_id, a.name);
  renderBoard();
  if (state.monitor) state.monitor.onBoard(state.board);
}

/** Keeps one <tr> per key (so buttons keep focus across updates); `fill(tr, item)` fills it. */
function syncRows(tbody, items, key, create, fill, emptyText, columns) {
  const rows = new Map([...tbody.querySelectorAll("tr[data-key]")].map((tr) => [tr.dataset.key, tr]));
  const empty = tbody.querySelector("tr.empty");
  if (!items.length) {
    for (const tr of rows.values()) tr.remove();
    if (!empty) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: columns }, emptyText)));
    return;
  }
  if (empty) empty.remove();
  const seen = new Set();
  let before = null;
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const item = items[i];
    const k = key(item);
    seen.add(k);
    let tr = rows.get(k);
    if (!tr) {
      tr = create(item);
      tr.dataset.key = k;
    }
    fill(tr, item);
    if (tr.nextSibling !== before || tr.parentNode !== tbody) tbody.insertBefore(tr, before);
    before = tr;
  }
  for (const [k, tr] of rows) if (!seen.has(k)) tr.remove();
}

function cells(tr, n) {
  while (tr.children.length < n) tr.append(h("td"));
  return [...tr.children];
}

export function renderBoard() {
  const board = state.board;
  if (!board) return;
  const e = elapsed();
  const calls = (board.calls || []).slice().sort((a, b) => (b.waited_s || 0) - (a.waited_s || 0));
  const agents = (board.agents || []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const queues = board.queues || [];

  // KPIs
  const waiting = queues.reduce((s, q) => s + (q.waiting || 0), 0);
  const longest = Math.max(0, ...queues.map((q) => (q.waiting ? (q.longest_wait_s || 0) + e : 0)));
  const talking = calls.filter((c) => c.state === "connected" || c.state === "connecting").length;
  const available = agents.filter((a) => a.state === "available").length;
  el.kpis.replaceChildren(
    kpi("Waiting now", String(waiting), waiting ? "warn" : ""),
    kpi("Longest wait", waiting ? clock(longest) : "–", longest > 60 ? "warn" : ""),
    kpi("Calls in progress", String(talking)),
    kpi("Agents available", `${available} of ${agents.filter((a) => a.state !== "offline").length}`, available ? "ok" : ""),
  );

  syncRows(el.queuesBody, queues, (q) => q.queue,
    () => h("tr"),
    (tr, q) => {
      const [name, w, l, a] = cells(tr, 4);
      if (!name.matches("th")) tr.replaceChild(h("th", { scope: "row" }), name);
      tr.children[0].textContent = queueName(q.queue);
      w.textContent = String(q.waiting || 0);
      w.className = `num ${q.waiting ? "warn" : ""}`;
      l.className = "num";
      l.dataset.live = q.waiting ? "queue-wait" : "";
      l.dataset.base = String(q.longest_wait_s || 0);
      l.textContent = q.waiting ? clock((q.longest_wait_s || 0) + e) : "–";
      a.className = "num";
      a.textContent = `${q.agents_available || 0} of ${q.agents_signed_in || 0}`;
    }, "No queues.", 4);

  syncRows(el.agentsBody, agents, (a) => a.agent_id,
    () => h("tr"),
    (tr, a) => {
      const [name, stateCell, inState, today] = cells(tr, 4);
      name.replaceChildren(h("span", { "data-testid": "agent-name" }, a.name || "Agent (no name given)"), h("span", { class: "id" }, a.agent_id));
      stateCell.replaceChildren(h("span", { class: `pill agent-${a.state}` }, agentStateWords(a.state)));
      inState.className = "num";
      inState.dataset.live = "grow";
      inState.dataset.base = String(a.in_state_s || 0);
      inState.textContent = clock((a.in_state_s || 0) + e);
      today.className = "num";
      today.textContent = String(a.calls_today || 0);
    }, "No agents signed in.", 4);

  syncRows(el.callsBody, calls, (c) => c.call_id,
    (c) => {
      const tr = h("tr");
      const btn = h("button", {
        type: "button", class: "btn small", "data-testid": `monitor-${c.call_id}`,
      }, "Monitor");
      btn.addEventListener("click", () => onMonitor(tr.dataset.key));
      cells(tr, 8)[7].append(btn);
      return tr;
    },
    (tr, c) => {
      const [id, stateCell, queue, agent, waited, dur, mon, act] = cells(tr, 8);
      const title = c.context && c.context.title;
      const who = shopperLabel(c);
      id.replaceChildren(h("span", { class: "strong", "data-testid": "call-customer" }, who),
        title ? h("span", { class: "sub" }, title) : "",
        h("span", { class: "id", title: `call ${c.call_id}` }, c.customer_id ? `customer no. ${c.customer_id}` : c.call_id.slice(0, 10)));
      stateCell.replaceChildren(h("span", { class: `pill call-${c.state}` }, callStateWords(c.state)),
        c.priority > 0 ? h("span", { class: "pill vip" }, "Priority") : "");
      queue.textContent = queueName(c.queue);
      agent.textContent = c.agent_id ? c.agent_name || agentLabel(c.agent_id) : "–";
      agent.dataset.testid = "call-agent";
      const answered = !(c.state === "waiting" || c.state === "ringing");
      waited.className = "num";
      waited.dataset.live = answered ? "" : "grow";
      waited.dataset.base = String(c.waited_s || 0);
      waited.textContent = clock((c.waited_s || 0) + (answered ? 0 : e));
      dur.className = "num";
      dur.dataset.live = c.duration_s !== null && c.duration_s !== undefined ? "grow" : "";
      dur.dataset.base = String(c.duration_s || 0);
      dur.textContent = c.duration_s !== null && c.duration_s !== undefined ? clock(c.duration_s + e) : "–";
      const monitors = c.monitored_by || [];
      const names = c.monitored_by_names || [];
      mon.textContent = monitors.length
        ? monitors.map((m, i) => (m === state.me.id ? "You" : names[i] || "A supervisor")).join(", ") : "–";
      const btn = act.querySelector("button");
      const mine = state.monitor && state.monitor.callId === c.call_id;
      const canMonitor = c.state === "connected" || c.state === "connecting";
      btn.hidden = !canMonitor;
      btn.disabled = !!mine;
      btn.textContent = mine ? "Monitoring" : "Monitor";
      btn.setAttribute("aria-label", mine ? `Monitoring the call with ${who}` : `Monitor the call with ${who}${title ? ` about ${title}` : ""}`);
    }, "No calls right now.", 8);

  el.liveAt.textContent = `Updated ${timeOfDay(board.at)}`;
  renderStale("Reconnecting…");
}

// Times in the tables move on between pushes.
setInterval(() => {
  const board = state.board;
  if (!board || state.stale) return; // stale: the times stop where the last picture left them
  const e = elapsed();
  for (const td of document.querySelectorAll('#live td[data-live="grow"], #live td[data-live="queue-wait"]')) {
    td.textContent = clock(Number(td.dataset.base || 0) + e);
  }
  const kpiLongest = el.kpis.children[1];
  if (kpiLongest) {
    const queues = board.queues || [];
    const waiting = queues.some((q) => q.waiting);
    const longest = Math.max(0, ...queues.map((q) => (q.waiting ? (q.longest_wait_s || 0) + e : 0)));
    kpiLongest.querySelector(".kpi-value").textContent = waiting ? clock(longest) : "–";
  }
}, 1000);
