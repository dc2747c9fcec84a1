// Transfer by pick list: the colleagues available now and the queues, by name
// (`GET /api/calls/{id}/transfer-targets`, for the agent in the call), fetched when the call
// connects and again whenever the list is opened; the choice is sent as `transfer`. A refusal
// shows next to the list, in words.

import { h } from "../dom.js";
import { api } from "../rest.js";
import { queueName } from "../words.js";
import { addHistory, el, state } from "./page.js";

const t = { callId: null, agents: [], queues: [], error: "", loading: false };

function render() {
  const chosen = el.transferTarget.value;
  el.transferAgents.replaceChildren(...(t.agents.length
    ? t.agents.map((a) => h("option", { value: `agent:${a.agent_id}` }, a.name || "A colleague"))
    : [h("option", { value: "", disabled: true }, t.loading ? "Looking…" : "Nobody is free right now")]));
  el.transferQueues.replaceChildren(...t.queues.map((q) => h("option", { value: `queue:${q.queue}` },
    `${q.name || queueName(q.queue)} queue${q.waiting ? ` (${q.waiting} waiting)` : ""}`)));
  if ([...el.transferTarget.options].some((o) => o.value === chosen && !o.disabled)) el.transferTarget.value = chosen;
  else el.transferTarget.value = "";
  el.transferError.textContent = t.error;
}

/** Fetches who the call can go to now. */
export async function refreshTargets() {
  const s = state.presence;
  const callId = s && s.callId;
  if (!callId) return;
  t.loading = true;
  render();
  try {
    const data = await api(`/api/calls/${encodeURIComponent(callId)}/transfer-targets`, { token: s.token });
    if (callId !== (state.presence && state.presence.callId)) return;
    Object.assign(t, { callId, agents: data.agents || [], queues: data.queues || [], error: "" });
  } catch (err) {
    t.error = `The colleagues free now could not be listed: ${err.words}`;
  } finally {
    t.loading = false;
    render();
  }
}

/** A new call on screen (or none): nothing chosen, the list fetched again once connected. */
export function resetTransfer() {
  Object.assign(t, { callId: null, agents: [], error: "" });
  el.transferTarget.value = "";
  render();
}

/** The call's state: the list is fetched when the call connects. */
export function transferCallState(st) {
  const callId = state.presence && state.presence.callId;
  if (st === "connected" && callId && callId !== t.callId) {
    t.callId = callId;
    refreshTargets();
  }
}

/** A refusal of our `transfer` (e.g. the colleague was taken meanwhile). */
export function onTransferError(e) {
  if (!e.ref || e.ref !== state.refs.transfer) return false;
  t.error = e.words || "The call could not be transferred.";
  render();
  refreshTargets();
  return true;
}

el.transferTarget.addEventListener("focus", () => refreshTargets());
el.transferTarget.addEventListener("change", () => { t.error = ""; el.transferError.textContent = ""; });
el.transferForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = state.presence;
  if (!s || !s.callId) return;
  const [kind, id] = el.transferTarget.value.split(/:(.*)/s);
  if (!kind || !id) {
    t.error = "Choose a colleague or a queue to transfer to.";
    render();
    el.transferTarget.focus();
    return;
  }
  const fields = { call_id: s.callId, [kind === "agent" ? "to_agent" : "to_queue"]: id };
  const label = kind === "agent"
    ? (t.agents.find((a) => a.agent_id === id) || {}).name || "a colleague"
    : `the ${queueName(id)} queue`;
  try {
    state.refs.transfer = s.sendMessage("transfer", fields);
    addHistory(`Transferred a call to ${label}.`);
  } catch (err) {
    t.error = err.words || "The call could not be transferred.";
    render();
  }
});
render();
