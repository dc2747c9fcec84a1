// The supervisor page's one state object, its elements, and the small writers every part of the
// page shares (error, connection state, announcements, figure tiles).

import { h } from "../dom.js";

const $ = (id) => document.getElementById(id);
export const el = {
  who: $("who"),
  signOut: $("sign-out"),
  username: $("sign-in-username"),
  tabs: $("tabs"),
  conn: $("conn-state"),
  error: $("error"),
  signin: $("signin"),
  demoForm: $("demo-form"),
  nameInput: $("name-input"),
  tokenDetails: $("token-details"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  live: $("live"),
  liveAt: $("live-at"),
  kpis: $("kpis"),
  queuesBody: $("queues-body"),
  agentsBody: $("agents-body"),
  callsBody: $("calls-body"),
  nodesBody: $("nodes-body"),
  monitor: $("monitor"),
  monitorTitle: $("monitor-title"),
  monitorSub: $("monitor-sub"),
  modeButtons: [...document.querySelectorAll(".mode")],
  modeWords: $("mode-words"),
  micToggle: $("mic-toggle"),
  stopMonitoring: $("stop-monitoring"),
  videoShopper: $("video-shopper"),
  videoAgent: $("video-agent"),
  labelShopper: $("label-shopper"),
  labelAgent: $("label-agent"),
  noteShopper: $("note-shopper"),
  noteAgent: $("note-agent"),
  monitorChat: $("monitor-chat"),
  monitorChatForm: $("monitor-chat-form"),
  monitorChatInput: $("monitor-chat-input"),
  monitorChatSend: $("monitor-chat-send"),
  figures: $("figures"),
  figuresForm: $("figures-form"),
  fromDate: $("from-date"),
  toDate: $("to-date"),
  figuresNote: $("figures-note"),
  figuresOut: $("figures-out"),
  figuresKpis: $("figures-kpis"),
  chart: $("chart"),
  slChart: $("sl-chart"),
  figuresQueues: document.querySelector('[data-testid="figures-queues"]'),
  figuresAgents: document.querySelector('[data-testid="figures-agents"]'),
};

/** Everything the page knows. The parts of the page change it and render from it. */
export const state = {
  token: null,
  me: { name: null, id: null },
  session: null, // the ReconnectingSession of this sign-in
  iceServers: [],
  conn: "idle", // idle | connecting | live | reconnecting | error
  signedIn: false,
  board: null, // the last dashboard, with receivedAt
  stale: false, // the connection was lost since that dashboard: it is shown marked stale
  agentNames: new Map(), // agent id -> name, from every dashboard seen
  monitor: null, // the Monitor in progress
  nodes: [], // the last GET /api/nodes answer (supervisor/node-board.js)
};

export function setError(words) {
  el.error.textContent = words || "";
}

export function setConn(conn, words) {
  state.conn = conn;
  el.conn.dataset.state = conn;
  el.conn.textContent = words;
  document.body.dataset.state = conn;
}

/** Signed in: the live picture and the figures; signed out: the sign-in form. */
export function setSignedIn(signedIn) {
  state.signedIn = signedIn;
  el.signin.hidden = signedIn;
  el.live.hidden = !signedIn;
  el.figures.hidden = !signedIn;
  el.tabs.hidden = !signedIn;
  el.who.hidden = !signedIn;
  el.signOut.hidden = !signedIn;
  el.who.textContent = signedIn ? `Signed in as ${state.me.name || "supervisor"}` : "";
}

/** Seconds since the last dashboard arrived (live times move on between pushes). */
export function elapsed() {
  return state.board ? (Date.now() - state.board.receivedAt) / 1000 : 0;
}

export function agentLabel(id) {
  if (!id) return "–";
  return state.agentNames.get(id) || `Unnamed agent (${id})`; // a readable fallback, not a bare id
}

export function kpi(label, value, cls = "") {
  return h("div", { class: `kpi ${cls}` }, h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label));
}

const announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite", "data-testid": "announce" });
document.body.append(announcer);

export function announce(words) {
  announcer.textContent = words;
}
