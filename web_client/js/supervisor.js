// Silkline supervisor view: the live picture (calls, agents, queues, pushed as `dashboard`),
// monitoring a call (silent, whisper to the agent, barge in), and figures over a period.
//
// Query parameters: ?name=Sam (sign in at once with a demo token), ?debug (log the protocol).

import {
  CallPeer, CLOSE, SignalingClient, describeEnd, getMicrophone, websocketUrl,
} from "./call-client.js";
import {
  agentStateWords, api, callStateWords, clock, demoToken, h, photoBlobUrl, queueName, timeOfDay, wireSignInForms,
} from "./ui-common.js";

const params = new URLSearchParams(location.search);
const debug = params.has("debug");
const log = (...a) => { if (debug) console.log("[silkline supervisor]", ...a); };

const $ = (id) => document.getElementById(id);
const el = {
  who: $("who"),
  tabs: $("tabs"),
  conn: $("conn-state"),
  error: $("error"),
  signin: $("signin"),
  demoForm: $("demo-form"),
  nameInput: $("name-input"),
  signInBtn: $("sign-in"),
  tokenDetails: $("token-details"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  live: $("live"),
  liveAt: $("live-at"),
  kpis: $("kpis"),
  queuesBody: $("queues-body"),
  agentsBody: $("agents-body"),
  callsBody: $("calls-body"),
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

let token = null;
let me = { name: null, id: null };
let sig = null;
let iceServers = [];
let stopped = false;
let retry = 0;
let board = null; // last dashboard, with receivedAt
const agentNames = new Map(); // agent id -> name, from every dashboard seen
let monitor = null; // the Monitor in progress

function setError(words) {
  el.error.textContent = words || "";
}

function setConn(state, words) {
  el.conn.dataset.state = state;
  el.conn.textContent = words;
  document.body.dataset.state = state;
}

// --- signing in and the socket ---------------------------------------------------------

async function connect() {
  const client = new SignalingClient(websocketUrl(), { log });
  sig = client;
  client.on("dashboard", (m) => onDashboard(m));
  client.on("monitoring", (m) => monitor && monitor.onMonitoring(m));
  client.on("answer", (m) => monitor && monitor.onAnswer(m));
  client.on("call-ended", (m) => monitor && monitor.onCallEnded(m));
  client.on("chat", (m) => monitor && monitor.onChat(m));
  client.on("photo", (m) => monitor && monitor.onPhoto(m));
  client.on("error", (m) => {
    if (m.code === "bad_candidate") return;
    setError(m.words + (m.message && m.code === "invalid_state" ? ` (${m.message})` : ""));
    if (m.code === "unauthorized") signOut(m.words);
  });
  client.on("close", (info) => {
    if (client !== sig) return;
    if (info.intentional || stopped) return;
    if (monitor) monitor.lost("The connection to the server was lost, so monitoring stopped.");
    if (info.code === CLOSE.UNAUTHORIZED) {
      signOut("Your session is not valid or has expired. Sign in again.");
      return;
    }
    scheduleReconnect();
  });
  setConn("connecting", retry ? `Reconnecting… (attempt ${retry})` : "Connecting…");
  await client.open();
  const joined = await client.join(token);
  iceServers = Array.isArray(joined.ice_servers) ? joined.ice_servers : [];
  me.id = joined.participant_id;
  if (joined.role !== "supervisor" && joined.role !== "admin") {
    signOut("That token is not a supervisor's token.");
    return;
  }
  retry = 0;
  setConn("live", "Live");
  el.signin.hidden = true;
  el.live.hidden = false;
  el.figures.hidden = false;
  el.tabs.hidden = false;
  el.who.hidden = false;
  el.who.textContent = `Signed in as ${me.name || "supervisor"}`;
}

function scheduleReconnect() {
  if (stopped) return;
  retry += 1;
  if (retry > 8) {
    setConn("error", "Offline");
    setError("The connection to the server was lost and could not be restored. Reload the page.");
    return;
  }
  const delay = Math.min(8000, 500 * 2 ** (retry - 1)) * (0.75 + Math.random() * 0.5);
  setConn("reconnecting", `Reconnecting… (attempt ${retry})`);
  setTimeout(() => {
    connect().catch((err) => {
      log("reconnect failed", err);
      if (err && err.code === "unauthorized") signOut(err.words);
      else scheduleReconnect();
    });
  }, delay);
}

function signOut(words) {
  stopped = true;
  if (sig) sig.close();
  if (monitor) monitor.close();
  setConn("error", "Signed out");
  setError(words);
  el.signin.hidden = false;
  el.live.hidden = true;
  el.figures.hidden = true;
  el.tabs.hidden = true;
  el.who.hidden = true;
}

async function signInWith(getToken, name) {
  setError("");
  el.signInBtn.disabled = true;
  try {
    const t = await getToken();
    if (!t) {
      setError("Demo sign-in is switched off on this server. Paste a supervisor token.");
      el.tokenDetails.open = true;
      el.tokenInput.focus();
      return;
    }
    token = t;
    me.name = name;
    stopped = false;
    retry = 0;
    await connect();
  } catch (err) {
    setConn("error", "Not signed in");
    setError(err.words || "Could not sign in.");
    if (sig) sig.close();
  } finally {
    el.signInBtn.disabled = false;
  }
}

wireSignInForms({
  demoForm: el.demoForm,
  nameInput: el.nameInput,
  tokenForm: el.tokenForm,
  tokenInput: el.tokenInput,
  setError,
  onName: (name) => signInWith(() => demoToken("supervisor", name), name),
  onToken: (t) => signInWith(async () => t, null),
});

// --- the live picture ---------------------------------------------------------------------

function onDashboard(m) {
  board = { ...m, receivedAt: Date.now() };
  for (const a of m.agents || []) agentNames.set(a.agent_id, a.name);
  renderBoard();
  if (monitor) monitor.onBoard(board);
}

function elapsed() {
  return board ? (Date.now() - board.receivedAt) / 1000 : 0;
}

function agentLabel(id) {
  if (!id) return "–";
  return agentNames.get(id) || id;
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

function renderBoard() {
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
      const [name, state, inState, today] = cells(tr, 4);
      name.replaceChildren(h("span", {}, a.name || a.agent_id), h("span", { class: "id" }, a.agent_id));
      state.replaceChildren(h("span", { class: `pill agent-${a.state}` }, agentStateWords(a.state)));
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
      btn.addEventListener("click", () => startMonitor(tr.dataset.key));
      cells(tr, 8)[7].append(btn);
      return tr;
    },
    (tr, c) => {
      const [id, state, queue, agent, waited, dur, mon, act] = cells(tr, 8);
      const title = c.context && c.context.title;
      id.replaceChildren(h("span", { class: "id strong" }, c.call_id.slice(0, 10)), title ? h("span", { class: "sub" }, title) : "");
      state.replaceChildren(h("span", { class: `pill call-${c.state}` }, callStateWords(c.state)),
        c.priority > 0 ? h("span", { class: "pill vip" }, "Priority") : "");
      queue.textContent = queueName(c.queue);
      agent.textContent = c.agent_id ? agentLabel(c.agent_id) : "–";
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
      mon.textContent = monitors.length ? monitors.map((m) => (m === me.id ? "You" : m)).join(", ") : "–";
      const btn = act.querySelector("button");
      const mine = monitor && monitor.callId === c.call_id;
      const canMonitor = c.state === "connected" || c.state === "connecting";
      btn.hidden = !canMonitor;
      btn.disabled = !!mine;
      btn.textContent = mine ? "Monitoring" : "Monitor";
      btn.setAttribute("aria-label", mine ? `Monitoring call ${c.call_id}` : `Monitor call ${c.call_id}${title ? ` about ${title}` : ""}`);
    }, "No calls right now.", 8);

  el.liveAt.textContent = `Updated ${timeOfDay(board.at)}`;
}

function kpi(label, value, cls = "") {
  return h("div", { class: `kpi ${cls}` }, h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label));
}

// Times in the tables move on between pushes.
setInterval(() => {
  if (!board) return;
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

// --- monitoring -------------------------------------------------------------------------------

const MODE_WORDS = {
  silent: "Silent: you see and hear both sides. Nobody hears you.",
  whisper: "Whisper: only the agent hears you. The shopper does not.",
  barge: "Barge in: the shopper and the agent both hear you.",
};

class Monitor {
  constructor(callId) {
    this.callId = callId;
    this.mode = "silent";
    this.peer = null;
    this.mic = null;
    this.closed = false;
    this.retries = 0;
    this.blobUrls = [];
  }

  async start() {
    el.monitor.hidden = false;
    el.monitorTitle.textContent = "Monitoring a call";
    el.monitorChat.replaceChildren();
    this.showCall();
    this.renderMode("silent", "Starting…");
    el.monitorTitle.focus();
    // The microphone (for whisper and barge-in) is asked for now: a click started this.
    try {
      this.mic = await getMicrophone();
    } catch (err) {
      this.mic = null;
      this.micProblem = err.words || "No microphone: you can watch and listen, but not speak.";
    }
    if (this.closed) return this.releaseMic();
    const reply = await sig.request("monitor", { call_id: this.callId }, "monitoring");
    if (this.closed) return undefined;
    this.onMonitoring(reply);
    await this.newPeer();
    return undefined;
  }

  async newPeer() {
    if (this.peer) this.peer.close();
    this.peer = new CallPeer({
      signaling: sig,
      iceServers,
      localStream: this.mic,
      layout: "monitor",
      monitorVideos: [el.videoShopper, el.videoAgent],
      onIceProblem: () => this.onIceProblem(),
      log,
    });
    await this.peer.start(this.callId);
  }

  onIceProblem() {
    if (this.closed) return;
    if (this.retries >= 3) {
      setError("The monitoring connection failed and could not be restored.");
      this.stop();
      return;
    }
    this.retries += 1;
    setTimeout(() => !this.closed && this.newPeer().catch((err) => setError(err.words || String(err))), 500 * this.retries);
  }

  onAnswer(m) {
    if (m.call_id !== this.callId || !this.peer) return;
    this.peer.applyAnswer(m.sdp).catch((err) => {
      log("answer failed", err);
      setError("The server's media answer could not be used.");
    });
  }

  onMonitoring(m) {
    if (m.call_id !== this.callId) return;
    this.mode = m.mode || "silent";
    if (m.context) this.context = m.context;
    this.showCall();
    this.renderMode(this.mode);
  }

  showCall() {
    const c = board && (board.calls || []).find((x) => x.call_id === this.callId);
    const ctx = this.context || (c && c.context) || {};
    const agentName = c && c.agent_id ? agentLabel(c.agent_id) : "Agent";
    this.agentName = agentName;
    el.labelAgent.textContent = `Agent · ${agentName}`;
    el.labelShopper.textContent = ctx.customer_id ? `Shopper · ${ctx.customer_id}` : "Shopper";
    const bits = [ctx.title, c ? `${queueName(c.queue)} queue` : null, c && c.duration_s !== null && c.duration_s !== undefined ? `talking for ${clock(c.duration_s + elapsed())}` : null];
    el.monitorSub.textContent = `${this.callId} · ${bits.filter(Boolean).join(" · ")}`;
    const voice = ctx.media === "audio";
    el.noteShopper.hidden = !voice;
    el.noteShopper.textContent = voice ? "Voice-only call: the shopper has no camera on." : "";
  }

  renderMode(mode, pending) {
    for (const b of el.modeButtons) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
      b.disabled = !!pending || ((b.dataset.mode !== "silent") && !this.mic && !pending);
    }
    el.modeWords.dataset.mode = mode;
    let words = pending || MODE_WORDS[mode] || mode;
    if (!this.mic && this.micProblem && !pending) words += ` ${this.micProblem}`;
    el.modeWords.textContent = words;
    el.monitor.dataset.mode = mode;
    const barge = mode === "barge";
    el.monitorChatInput.disabled = !barge;
    el.monitorChatSend.disabled = !barge;
    el.monitorChatInput.placeholder = barge ? "Write to the shopper and the agent…" : "Barge in to write in this call";
    el.micToggle.hidden = !this.mic;
  }

  async setMode(mode) {
    if (mode === this.mode || this.closed) return;
    const previous = this.mode;
    this.renderMode(previous, "Changing…");
    try {
      const reply = await sig.request("monitor-mode", { call_id: this.callId, mode }, "monitoring");
      this.onMonitoring(reply);
    } catch (err) {
      this.renderMode(previous);
      setError(err.words || "Could not change the mode.");
    }
  }

  onChat(m) {
    if (m.call_id !== this.callId) return;
    const who = m.role === "supervisor" ? (m.name || "You") : m.role === "agent" ? (m.name || "Agent") : "Shopper";
    el.monitorChat.append(h("li", { class: `msg role-${m.role}` }, h("span", { class: "who" }, `${who} · ${timeOfDay(m.at)}`), h("p", { class: "text" }, m.text)));
    el.monitorChat.scrollTop = el.monitorChat.scrollHeight;
  }

  onPhoto(m) {
    if (m.call_id !== this.callId) return;
    const who = m.role === "agent" ? (m.name || "Agent") : "Shopper";
    const img = h("img", { alt: `${m.kind === "snapshot" ? "Snapshot" : "Photo"} from ${who}`, loading: "lazy" });
    el.monitorChat.append(h("li", { class: "msg" }, h("span", { class: "who" }, `${who} · ${timeOfDay(m.at)} · ${m.kind === "snapshot" ? "snapshot" : "photo"}`), h("figure", { class: "photo" }, img)));
    photoBlobUrl(m.url, token).then((url) => {
      this.blobUrls.push(url);
      img.src = url;
    }, () => { img.alt = "The photo could not be loaded."; });
  }

  onBoard() {
    if (!this.closed) this.showCall();
  }

  onCallEnded(m) {
    if (m.call_id !== this.callId) return;
    const words = m.reason === "monitor_end" ? "You stopped monitoring." : `The call ended: ${describeEnd(m.reason, { by: m.by, other: "the other side" })}`;
    this.close();
    el.modeWords.textContent = words;
    setError("");
    announce(words);
  }

  lost(words) {
    this.close();
    announce(words);
  }

  stop() {
    if (this.closed) return;
    try {
      if (sig && sig.isOpen) sig.send("unmonitor", { call_id: this.callId });
    } catch (_) { /* closed below anyway */ }
    this.close();
    announce("You stopped monitoring.");
  }

  releaseMic() {
    if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
    this.mic = null;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.peer) this.peer.close();
    this.peer = null;
    this.releaseMic();
    for (const url of this.blobUrls) URL.revokeObjectURL(url);
    this.blobUrls = [];
    el.videoShopper.srcObject = null;
    el.videoAgent.srcObject = null;
    el.monitor.hidden = true;
    if (monitor === this) monitor = null;
    renderBoard();
  }
}

const announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite", "data-testid": "announce" });
document.body.append(announcer);
function announce(words) {
  announcer.textContent = words;
}

async function startMonitor(callId) {
  setError("");
  if (!sig || !sig.isOpen) {
    setError("Not connected to the server.");
    return;
  }
  if (monitor) {
    if (monitor.callId === callId) return;
    monitor.stop();
  }
  const m = new Monitor(callId);
  monitor = m;
  renderBoard();
  try {
    await m.start();
  } catch (err) {
    setError(err.words || "Could not start monitoring.");
    m.close();
  }
}

for (const b of el.modeButtons) {
  b.addEventListener("click", () => monitor && monitor.setMode(b.dataset.mode));
}
el.stopMonitoring.addEventListener("click", () => monitor && monitor.stop());
el.micToggle.addEventListener("click", () => {
  if (!monitor || !monitor.mic) return;
  const muted = el.micToggle.getAttribute("aria-pressed") !== "true";
  monitor.mic.getAudioTracks().forEach((t) => (t.enabled = !muted));
  el.micToggle.setAttribute("aria-pressed", String(muted));
  el.micToggle.textContent = muted ? "Unmute my microphone" : "Mute my microphone";
});
el.monitorChatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.monitorChatInput.value.trim();
  if (!text || !monitor) return;
  try {
    sig.send("chat", { call_id: monitor.callId, text });
    el.monitorChatInput.value = "";
  } catch (err) {
    setError(err.words);
  }
});

// --- figures ----------------------------------------------------------------------------------

function isoDate(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
(() => {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  el.fromDate.value = isoDate(weekAgo);
  el.toDate.value = isoDate(today);
})();

const FIGURE_COLUMNS = [
  ["offered", "Offered", (v) => String(v ?? 0)],
  ["answered", "Answered", (v) => String(v ?? 0)],
  ["abandoned", "Abandoned", (v) => String(v ?? 0)],
  ["callbacks", "Callbacks", (v) => String(v ?? 0)],
  ["average_speed_of_answer_s", "Avg. speed of answer", (v) => (v === null || v === undefined ? "–" : clock(v))],
  ["average_handle_s", "Avg. handle time", (v) => (v === null || v === undefined ? "–" : clock(v))],
  ["service_level", "Service level", (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`)],
  ["average_rating", "Avg. rating", (v, row) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ★ (${row.ratings})`)],
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
    FIGURE_COLUMNS.map(([k, , fmt]) => h("td", { class: "num" }, fmt(row[k], row))))));
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** Grouped bars: per queue, answered / abandoned / callbacks. Inline SVG, no library. */
function barChart(container, groups, series, { max = null, format = (v) => String(v), label }) {
  const width = 560;
  const height = 240;
  const pad = { l: 40, r: 12, t: 16, b: 44 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const top = max ?? Math.max(1, ...groups.flatMap((g) => series.map((s) => g.values[s.key] || 0)));
  const niceTop = max ?? (top <= 4 ? 4 : Math.ceil(top / 4) * 4); // whole-number ticks
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" });
  for (let i = 0; i <= 4; i += 1) {
    const v = (niceTop * i) / 4;
    const y = pad.t + plotH - (plotH * i) / 4;
    chart.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: pad.l - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format(v)));
  }
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(36, (groupW * 0.7) / series.length);
  groups.forEach((g, gi) => {
    const x0 = pad.l + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = g.values[s.key] || 0;
      const bh = niceTop ? (plotH * v) / niceTop : 0;
      const rect = svg("rect", { x: x0 + si * barW, y: pad.t + plotH - bh, width: barW - 3, height: Math.max(0, bh), class: `bar ${s.cls}`, rx: 2 });
      rect.append(svg("title", {}, `${g.name}: ${format(v)} ${s.label.toLowerCase()}`));
      chart.append(rect);
    });
    chart.append(svg("text", { x: pad.l + gi * groupW + groupW / 2, y: height - pad.b + 18, class: "axis", "text-anchor": "middle" }, g.name));
  });
  const legend = h("ul", { class: "legend" }, series.map((s) => h("li", {}, h("span", { class: `swatch ${s.cls}`, "aria-hidden": "true" }), s.label)));
  container.replaceChildren(chart, legend);
}

async function agentNamesFor(from, to) {
  // Agents who signed out are not on the live board: their names are in the call records.
  try {
    const data = await api(`/api/calls?from=${from}&to=${to}&limit=1000`, { token });
    for (const call of data.calls || []) {
      for (const ev of call.events || []) {
        if (ev.type === "accepted" && ev.agent_id && ev.name && !agentNames.has(ev.agent_id)) agentNames.set(ev.agent_id, ev.name);
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
    [data] = await Promise.all([api(`/api/figures?from=${fromS}&to=${toS}`, { token }), agentNamesFor(fromS, toS)]);
  } catch (err) {
    el.figuresNote.textContent = "";
    setError(err.words);
    return;
  }
  const t = data.total || {};
  el.figuresOut.hidden = false;
  el.figuresNote.textContent = `${from.toLocaleDateString()} – ${to.toLocaleDateString()}: ${t.offered || 0} ${t.offered === 1 ? "call" : "calls"}. Service level = answered within ${data.service_level_threshold_s || 20} s, of all offered.`;
  el.figuresKpis.replaceChildren(
    kpi("Offered", String(t.offered || 0)),
    kpi("Answered", String(t.answered || 0), "ok"),
    kpi("Abandoned", String(t.abandoned || 0), t.abandoned ? "warn" : ""),
    kpi("Callbacks", String(t.callbacks || 0)),
    kpi("Service level", t.service_level === null || t.service_level === undefined ? "–" : `${Math.round(t.service_level * 100)} %`),
    kpi("Avg. rating", t.average_rating ? `${t.average_rating.toFixed(1)} ★` : "–"),
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

// --- start ----------------------------------------------------------------------------------

window.addEventListener("pagehide", () => {
  stopped = true;
  if (monitor) monitor.stop();
  if (sig && sig.isOpen) {
    try { sig.send("leave"); } catch (_) { /* closing anyway */ }
  }
});

// For automation and support tools: the monitoring RTCPeerConnection (for getStats).
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (monitor && monitor.peer ? monitor.peer.pc : null),
  monitor: () => monitor,
  board: () => board,
  state: () => el.conn.dataset.state,
});

el.signin.hidden = false;
setConn("idle", "Not signed in");
if (params.get("name")) {
  el.nameInput.value = params.get("name").slice(0, 80);
  signInWith(() => demoToken("supervisor", el.nameInput.value), el.nameInput.value);
} else {
  el.nameInput.focus();
}
