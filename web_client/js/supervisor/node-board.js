// The nodes of the cluster (GET /api/nodes with the bearer token, every few seconds while
// signed in): each node's state in words, heartbeat age, load and how many calls it carries,
// and which node decides for the contact centre (queues, dispatch) just now.

import { h } from "../dom.js";
import { api } from "../rest.js";
import { el, state } from "./page.js";

const POLL_MS = 3000;
const STATE_WORDS = {
  active: "Active",
  draining: "Draining: takes no new calls",
  dead: "Not answering: its calls move to other nodes",
};

function load(node) {
  const l = node.load || {};
  const cpu = typeof l.cpu_pct === "number" ? `${Math.round(l.cpu_pct)} % CPU` : "– CPU";
  const lag = typeof l.loop_lag_ms === "number" ? `${l.loop_lag_ms.toFixed(1)} ms lag` : "– lag";
  return `${cpu}, ${lag}, ${l.tracks ?? 0} tracks`;
}

/** Writes the table from the last answer (or says why there is none). */
export function renderNodes(nodes, problem) {
  if (problem) {
    el.nodesBody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: 5 }, problem)));
    return;
  }
  if (!nodes.length) {
    el.nodesBody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: 5 }, "No node has reported yet.")));
    return;
  }
  el.nodesBody.replaceChildren(...nodes.map((n) => h("tr", {
    "data-testid": `node-${n.node_id}`, "data-node": n.node_id, "data-state": n.state,
    "data-centre": n.centre ? "true" : "false",
  },
    h("th", { scope: "row" }, `${n.node_id}`, h("span", { class: "hint" }, ` ${n.host} · pid ${n.pid}`),
      n.centre ? h("span", { class: "centre-badge", "data-testid": "centre-node" }, "Decides for the contact centre") : null),
    h("td", { class: `state ${n.state}` }, STATE_WORDS[n.state] || n.state),
    h("td", { class: "num" }, `${Math.round(n.heartbeat_age_s)} s`),
    h("td", { class: "num" }, String((n.rooms || []).length)),
    h("td", {}, load(n)))));
}

async function poll() {
  if (!state.signedIn || !state.token) return;
  try {
    const data = await api("/api/nodes", { token: state.token });
    state.nodes = Array.isArray(data.nodes) ? data.nodes : [];
    renderNodes(state.nodes, null);
  } catch (err) {
    renderNodes([], err.words || "The nodes could not be read.");
  }
}

let timer = null;

/** Polls while the page lives; a sign-in shows the nodes at once. */
export function startNodeBoard() {
  if (timer !== null) return;
  timer = setInterval(poll, POLL_MS);
  poll();
}

export function refreshNodes() {
  poll();
}
