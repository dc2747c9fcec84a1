// People, not ids, on the QA page: the agents' names and the queues (`GET /api/directory`),
// loaded once after sign-in; the filters are pick lists of them, and every table shows a name
// (a readable fallback when the records do not know one), the id only as a detail.

import { h } from "../dom.js";
import { words } from "./format.js";
import { api, el } from "./page.js";

const people = { agents: new Map(), queues: [], loaded: null };

/** The directory, fetched once (again after a failure). */
export function loadPeople() {
  if (!people.loaded) {
    people.loaded = api("/api/directory").then((data) => {
      for (const a of data?.agents || []) people.agents.set(a.agent_id, a.name);
      people.queues = data?.queues || [];
      fillFilters();
    }).catch(() => {
      people.loaded = null; // the filters keep "Any"; the next search tries again
    });
  }
  return people.loaded;
}

/** Remembers names that a search result or a record knows. */
export function learnAgent(id, name) {
  if (id && name && !people.agents.get(id)) people.agents.set(id, name);
}

/** An agent in words: the name, else "Agent (no name on record)"; never the bare id. */
export function agentLabel(id, name = null) {
  if (!id) return "No agent";
  return name || people.agents.get(id) || "Agent (no name on record)";
}

/** The name and, smaller, the id: for table cells. */
export function agentCell(id, name = null) {
  if (!id) return h("span", { class: "muted", text: "—" });
  return h("span", { class: "agent" }, h("span", { class: "agent-name", text: agentLabel(id, name) }),
    h("span", { class: "mono muted small", text: ` ${id}` }));
}

function fillSelect(select, items, anyWords) {
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, anyWords),
    ...items.map(([value, label]) => h("option", { value }, label)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

export function fillFilters() {
  const agents = [...people.agents.entries()]
    .sort((a, b) => agentLabel(a[0], a[1]).localeCompare(agentLabel(b[0], b[1])))
    .map(([id, name]) => [id, name || `Agent (no name on record) · ${id}`]);
  fillSelect(el.filterAgent, agents, "Any agent");
  const queues = people.queues.length ? people.queues
    : ["general", "jewellery", "electronics"].map((q) => ({ queue: q, name: words(q) }));
  fillSelect(el.filterQueue, queues.map((q) => [q.queue, q.name || words(q.queue)]), "Any queue");
}
