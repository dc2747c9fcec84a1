// Silkline QA: find recorded calls, replay them against their timeline, score them.
//
// Routes (in the URL fragment): #/calls, #/call/<call_id>, #/scorecards.
// The token lives in memory and in sessionStorage (this tab only); media plays from the
// short-lived signed URLs the API hands out, photos are fetched with the Bearer token.

const TOKEN_KEY = "silkline.qa.token";
const AUTH_WORDS = "Your sign-in has expired or you may not see recordings.";
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
const el = {
  tabs: $("tabs"),
  tabCalls: $("tab-calls"),
  tabScorecards: $("tab-scorecards"),
  who: $("who"),
  signOut: $("sign-out"),
  main: $("main"),
  error: $("error"),
  signinView: $("signin-view"),
  demoForm: $("demo-form"),
  qaName: $("qa-name"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  callsView: $("calls-view"),
  searchForm: $("search-form"),
  resultsStatus: $("results-status"),
  resultsBody: $("results-body"),
  agentsList: $("agents-list"),
  queuesList: $("queues-list"),
  dispositionsList: $("dispositions-list"),
  callView: $("call-view"),
  callTitle: $("call-title"),
  callSubtitle: $("call-subtitle"),
  callChips: $("call-chips"),
  callLoading: $("call-loading"),
  callBody: $("call-body"),
  mediaState: $("media-state"),
  playerWrap: $("player-wrap"),
  clock: $("clock"),
  prevEvent: $("prev-event"),
  nextEvent: $("next-event"),
  recomposePip: $("recompose-pip"),
  timeline: $("timeline"),
  facts: $("facts"),
  tracks: $("tracks"),
  conversation: $("conversation"),
  revealToggle: $("reveal-toggle"),
  savedScorecard: $("saved-scorecard"),
  scorecardForm: $("scorecard-form"),
  criteria: $("criteria"),
  scoreComment: $("score-comment"),
  scoreTotal: $("score-total"),
  saveScorecard: $("save-scorecard"),
  scorecardMsg: $("scorecard-msg"),
  scorecardsView: $("scorecards-view"),
  scorecardsTitle: $("scorecards-title"),
  scorecardsStatus: $("scorecards-status"),
  scorecardsHead: $("scorecards-head"),
  scorecardsBody: $("scorecards-body"),
  agentAverages: $("agent-averages"),
  reloadScorecards: $("reload-scorecards"),
  photoDialog: $("photo-dialog"),
  photoDialogTitle: $("photo-dialog-title"),
  photoDialogImg: $("photo-dialog-img"),
};

const state = {
  token: null,
  claims: null,
  results: null, // last search result rows
  searched: false,
  lastOpened: null,
  // the open call
  gen: 0,
  detail: null,
  callId: null,
  pollTimer: 0,
  blobUrls: [],
  origin: 0,
  duration: 1,
  video: null,
  virtualTime: 0,
  raf: 0,
  markers: [], // {type, index, offset, el, ...}
  convo: [], // {offset, el}
  currentConvo: -2,
  mediaRefreshed: false,
  thumbGen: 0,
  scorecardsLoaded: false,
};

// ----------------------------------------------------------------------------- words

const CRITERIA_WORDS = {
  greeting: ["Greeting", "Introduced themselves, warm and clear opening"],
  product_knowledge: ["Product knowledge", "Accurate, confident answers about the product"],
  problem_solved: ["Problem solved", "The shopper left with an answer or a next step"],
  courtesy: ["Courtesy", "Patient, polite, listened without interrupting"],
  compliance: ["Compliance", "Consent, no card numbers on record, no promises off policy"],
};
const SCORE_WORDS = { 0: "Not done", 1: "Poor", 2: "Below standard", 3: "Meets standard", 4: "Good", 5: "Excellent" };
const OUTCOME_WORDS = { answered: "Answered", abandoned: "Abandoned", callback: "Callback" };
const END_WORDS = {
  hang_up: "Hang-up",
  peer_gone: "Connection lost",
  timeout: "Timed out",
  node_drain: "Server restart",
  error: "Error",
  unavailable: "Nobody available",
  callback: "Callback requested",
  transferred: "Transferred",
};
const ROLE_WORDS = { shopper: "Shopper", agent: "Agent", supervisor: "Supervisor", recorder: "Recorder" };
const COMPOSITE_WORDS = {
  complete: "Ready to play",
  composing: "Composing",
  failed: "Composition failed",
  tracks: "Tracks only",
  none: "Not recorded",
};

const MARKER_TYPES = {
  joined: { lane: "call", label: "Joined" },
  transferred: { lane: "call", label: "Transferred" },
  reconnecting: { lane: "call", label: "Connection trouble" },
  "hang-up": { lane: "call", label: "Hang-up" },
  chat: { lane: "chat", label: "Chat" },
  photo: { lane: "photos", label: "Photo" },
  snapshot: { lane: "photos", label: "Snapshot" },
  recording_paused: { lane: "recording", label: "Recording paused" },
  recording_resumed: { lane: "recording", label: "Recording resumed" },
  monitor: { lane: "supervisor", label: "Supervisor" },
};
const LANES = [
  ["call", "Call"],
  ["chat", "Chat"],
  ["photos", "Photos"],
  ["recording", "Recording"],
  ["supervisor", "Supervisor"],
];

// Small inline icons (static markup, never data).
const ICONS = {
  joined: '<path d="M5 12h9m0 0-3.5-3.5M14 12l-3.5 3.5M17 5v14"/>',
  "hang-up": '<path d="M4 14c4.5-4 11.5-4 16 0l-2 2.5-3-1.5v-2.2a9 9 0 0 0-6 0V15l-3 1.5z"/>',
  transferred: '<path d="M4 8h13m0 0-3-3m3 3-3 3M20 16H7m0 0 3-3m-3 3 3 3"/>',
  reconnecting: '<path d="M5 9a10 10 0 0 1 14 0M8 12.5a5.5 5.5 0 0 1 8 0M12 16.5h.01M4 4l16 16"/>',
  chat: '<path d="M5 5h14v10H10l-4 4v-4H5z"/>',
  photo: '<path d="M4 8h3l2-2.5h6L17 8h3v11H4z"/><circle cx="12" cy="13" r="3.2"/>',
  snapshot: '<path d="M4 8V4h4M16 4h4v4M20 16v4h-4M8 20H4v-4"/><circle cx="12" cy="12" r="3"/>',
  recording_paused: '<path d="M9 6v12M15 6v12"/>',
  recording_resumed: '<path d="M8 5.5v13l10.5-6.5z"/>',
  monitor: '<path d="M2.5 12S6 5.5 12 5.5 21.5 12 21.5 12 18 18.5 12 18.5 2.5 12 2.5 12z"/><circle cx="12" cy="12" r="2.8"/>',
};

function icon(name) {
  const span = document.createElement("span");
  span.className = "icon";
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor"
    stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name] || ICONS.chat}</svg>`;
  return span;
}

// ----------------------------------------------------------------------------- helpers

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateTimeSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function fmtDate(unix, seconds = false) {
  if (typeof unix !== "number") return "—";
  return (seconds ? dateTimeSeconds : dateTime).format(new Date(unix * 1000));
}

function fmtClock(s, tenths = false) {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const whole = Math.floor(s);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  const head = hours ? `${hours}:${String(minutes).padStart(2, "0")}` : `${minutes}`;
  return `${head}:${secs}${tenths ? "." + Math.floor((s - whole) * 10) : ""}`;
}

function fmtDuration(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "—";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function words(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value).replace(/[_-]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function stars(score) {
  if (typeof score !== "number") return h("span", { class: "muted", text: "—" });
  const n = Math.max(0, Math.min(5, Math.round(score)));
  return h("span", { class: "stars", role: "img", "aria-label": `${n} of 5 stars`, title: `${n} of 5` },
    h("span", { class: "on", text: "★".repeat(n) }), h("span", { class: "off", text: "★".repeat(5 - n) }));
}

function chip(text, tone = "", extra = {}) {
  return h("span", { class: `chip ${tone}`.trim(), ...extra }, text);
}

function roleOf(name) {
  return ROLE_WORDS[name] || words(name);
}

function decodeToken(token) {
  try {
    const part = token.split(".")[1];
    const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

function safeHttpUrl(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// ----------------------------------------------------------------------------- errors and API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function showError(message) {
  el.error.textContent = message || "";
}

function clearError() {
  el.error.textContent = "";
}

function describe(err) {
  if (err instanceof ApiError) return err.message;
  return "Cannot reach the Silkline server. Check your connection and try again.";
}

/** fetch JSON with the Bearer token. A 401/403 signs the page out unless `authFatal` is false. */
async function api(path, { method = "GET", body, authFatal = true } = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, "network", "Cannot reach the Silkline server. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const code = data?.error?.code || `http_${res.status}`;
  const detail = data?.error?.message || res.statusText || "";
  if (res.status === 401 || res.status === 403) {
    const said = detail ? ` The server said: ${detail.replace(/\.$/, "")}.` : "";
    const err = new ApiError(res.status, code, `${AUTH_WORDS}${said} Sign in again with a QA, supervisor or admin account.`);
    if (authFatal) signOut(err.message);
    throw err;
  }
  if (res.status === 404) throw new ApiError(404, code, detail || "Not found.");
  throw new ApiError(res.status, code, detail ? `The server refused: ${detail}` : `The server answered ${res.status}.`);
}

// ----------------------------------------------------------------------------- sign in

function setToken(token) {
  state.token = token;
  state.claims = decodeToken(token);
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* private mode: memory only */
  }
  updateWho();
}

function updateWho() {
  const signedIn = !!state.token;
  el.who.hidden = !signedIn;
  el.signOut.hidden = !signedIn;
  el.tabs.hidden = !signedIn;
  if (!signedIn) return;
  const c = state.claims || {};
  const name = c.name || c.sub || "Signed in";
  el.who.textContent = "";
  el.who.append(h("span", { class: "who-name", text: name }), " ",
    chip({ qa: "QA", admin: "Admin", supervisor: "Supervisor" }[c.role] || words(c.role || "token"), "dark"));
}

function signOut(message) {
  state.token = null;
  state.claims = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* ignore */
  }
  closeCall();
  state.results = null;
  state.searched = false;
  state.scorecardsLoaded = false;
  el.resultsBody.textContent = "";
  el.resultsStatus.textContent = "";
  updateWho();
  showError(message || "");
  setView("signin");
}

el.demoForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = el.demoForm.querySelector("button");
  button.disabled = true;
  clearError();
  try {
    const res = await fetch("/api/demo/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ role: "qa", name: el.qaName.value.trim() || "QA reviewer" }),
    });
    const data = await res.json().catch(() => null);
    if (res.status === 404) throw new ApiError(404, "no_demo", "Demo sign-in is switched off on this server. Paste a token instead.");
    if (!res.ok || !data?.token) throw new ApiError(res.status, "demo", data?.error?.message || "The demo sign-in did not work.");
    setToken(data.token);
    route();
  } catch (err) {
    showError(describe(err));
  } finally {
    button.disabled = false;
  }
});

el.tokenForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = el.tokenInput.value.trim().replace(/^Bearer\s+/i, "");
  const claims = decodeToken(token);
  if (!claims) {
    showError("That does not look like a Silkline token. Copy the whole token (three parts separated by dots).");
    return;
  }
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    showError(`${AUTH_WORDS} This token expired on ${fmtDate(claims.exp)}.`);
    return;
  }
  clearError();
  el.tokenInput.value = "";
  setToken(token);
  route();
});

el.signOut.addEventListener("click", () => {
  signOut("");
  location.hash = "#/calls";
});

// ----------------------------------------------------------------------------- views and routing

function setView(name) {
  el.signinView.hidden = name !== "signin";
  el.callsView.hidden = name !== "calls";
  el.callView.hidden = name !== "call";
  el.scorecardsView.hidden = name !== "scorecards";
  const tab = name === "scorecards" ? "scorecards" : name === "signin" ? null : "calls";
  el.tabCalls.toggleAttribute("aria-current", tab === "calls");
  el.tabScorecards.toggleAttribute("aria-current", tab === "scorecards");
  if (tab === "calls") el.tabCalls.setAttribute("aria-current", "page");
  if (tab === "scorecards") el.tabScorecards.setAttribute("aria-current", "page");
  document.title = {
    signin: "Sign in — Silkline QA",
    calls: "Calls — Silkline QA",
    call: "Call review — Silkline QA",
    scorecards: "Scorecards — Silkline QA",
  }[name];
}

function route() {
  if (!state.token) {
    setView("signin");
    return;
  }
  const hash = location.hash || "#/calls";
  const match = hash.match(/^#\/call\/([^/?#]+)$/);
  if (match) {
    openCall(decodeURIComponent(match[1]));
    return;
  }
  closeCall();
  if (hash === "#/scorecards") {
    setView("scorecards");
    loadScorecards();
    el.scorecardsTitle.focus({ preventScroll: true });
    return;
  }
  setView("calls");
  if (!state.searched) search();
  else if (state.lastOpened) {
    const link = document.querySelector(`[data-open-call="${CSS.escape(state.lastOpened)}"]`);
    link?.focus({ preventScroll: false });
  }
}

window.addEventListener("hashchange", route);

// ----------------------------------------------------------------------------- search

function dayStart(value) {
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

async function search() {
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

function compositeWord(row) {
  if (row.composite) return row.composite;
  return row.recorded ? "tracks" : "none";
}

function renderResults() {
  const rows = state.results || [];
  el.resultsBody.textContent = "";
  const n = rows.length;
  el.resultsStatus.textContent = n === 0 ? "No calls match these filters." : `${n} call${n === 1 ? "" : "s"}, newest first`;
  if (n === 0) {
    el.resultsBody.append(h("tr", { class: "empty" },
      h("td", { colspan: 10 }, "No calls match these filters. Try a wider date range or clear a filter.")));
  }
  fillDatalist(el.agentsList, rows.map((r) => r.agent_id));
  fillDatalist(el.queuesList, ["general", "jewellery", "electronics", ...rows.map((r) => r.queue)]);
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
      h("td", { class: "mono small" }, row.agent_id || "—"),
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

function fillDatalist(list, values) {
  const unique = [...new Set(values.filter((v) => typeof v === "string" && v))].sort();
  list.textContent = "";
  for (const v of unique) list.append(h("option", { value: v }));
}

// ----------------------------------------------------------------------------- one call

function closeCall() {
  state.gen += 1;
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
  cancelAnimationFrame(state.raf);
  state.raf = 0;
  if (state.video) {
    state.video.pause();
    state.video.removeAttribute("src");
    state.video.load();
    state.video = null;
  }
  for (const url of state.blobUrls) URL.revokeObjectURL(url);
  state.blobUrls = [];
  state.detail = null;
  state.callId = null;
  state.markers = [];
  state.convo = [];
  state.currentConvo = -2;
  state.virtualTime = 0;
  state.virtualMoved = false;
  state.mediaRefreshed = false;
  state.thumbGen += 1;
}

async function openCall(callId) {
  if (state.callId === callId && state.detail) {
    setView("call");
    return;
  }
  closeCall();
  const gen = state.gen;
  state.callId = callId;
  state.lastOpened = callId;
  setView("call");
  clearError();
  el.callTitle.textContent = `Call ${callId}`;
  el.callSubtitle.textContent = "";
  el.callChips.textContent = "";
  el.callLoading.hidden = false;
  el.callLoading.textContent = "Loading the call…";
  el.callBody.hidden = true;
  let detail;
  try {
    detail = await api(`/api/recordings/${encodeURIComponent(callId)}`);
  } catch (err) {
    if (gen !== state.gen) return;
    el.callLoading.textContent = err.status === 404
      ? `There is no call ${callId}. It may have been erased on the customer's request.`
      : describe(err);
    return;
  }
  if (gen !== state.gen) return;
  state.detail = detail;
  el.callLoading.hidden = true;
  el.callBody.hidden = false;
  renderCall(detail);
  el.callTitle.focus({ preventScroll: true });
}

function agentName(call) {
  const accepted = (call.events || []).filter((e) => e.type === "accepted" && e.name);
  return accepted.length ? accepted[accepted.length - 1].name : null;
}

function renderCall(detail) {
  const call = detail.call || {};
  const ctx = call.context || {};
  el.callTitle.textContent = ctx.title || `Call ${call.call_id}`;
  el.callSubtitle.textContent = "";
  const name = agentName(call);
  el.callSubtitle.append(
    h("span", { class: "mono", text: call.call_id }), " · ", fmtDate(call.created_at), " · ",
    words(call.queue), " queue · ", name ? `${name} (${call.agent_id || "?"})` : call.agent_id || "no agent");
  el.callChips.textContent = "";
  el.callChips.append(chip(OUTCOME_WORDS[detail.outcome] || words(detail.outcome), `outcome-${detail.outcome}`));
  if (call.disposition) el.callChips.append(chip(words(call.disposition), "plain"));
  if (call.rating?.score) el.callChips.append(stars(call.rating.score));
  state.origin = detail.timeline_origin || firstAt(call, "connected") || firstAt(call, "accepted") || call.created_at || 0;
  state.duration = baseDuration(detail);
  renderMedia(detail);
  renderTimeline(detail);
  renderConversation(detail);
  renderFacts(detail);
  renderScorecard(detail);
  updateTime(currentTime());
}

function firstAt(call, type) {
  return (call.events || []).find((e) => e.type === type)?.at ?? null;
}

function baseDuration(detail) {
  const comp = detail.composite || {};
  if (typeof comp.duration === "number" && comp.duration > 0) return comp.duration;
  const end = detail.call?.ended_at || firstAt(detail.call || {}, "ended");
  if (end && state.origin) return Math.max(1, end - state.origin);
  return 1;
}

// ---- media: player, composing progress, failures

function compositeState(detail) {
  const comp = detail.composite || {};
  if (comp.state) return comp.state;
  return (detail.tracks || []).length || detail.call?.recorded ? "tracks" : "none";
}

function renderMedia(detail) {
  const comp = detail.composite || {};
  const st = compositeState(detail);
  const box = el.mediaState;
  box.dataset.state = st;
  box.textContent = "";
  box.hidden = st === "complete";
  const canCompose = (detail.tracks || []).some((t) => t.state === "complete" || t.state === "interrupted")
    || (detail.call?.recordings || []).length > 0;
  el.recomposePip.hidden = !(canCompose && (st === "complete" || st === "failed" || st === "tracks"));
  el.revealToggle.closest("label").hidden = st !== "complete";

  if (st === "complete") {
    showPlayer(comp);
    return;
  }
  el.playerWrap.hidden = true;
  if (state.video) {
    state.video.pause();
    state.video = null;
  }
  el.playerWrap.textContent = "";
  if (st === "composing") {
    const pct = Math.round((comp.progress || 0) * 100);
    box.append(
      h("div", { class: "state-icon spin", "aria-hidden": "true" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "Preparing the playback file…" }),
        h("p", { class: "muted", text: "The call's tracks are being put side by side with their sound. This page updates by itself." }),
        h("div", { class: "progress", role: "progressbar", "aria-label": "Composition progress", "aria-valuemin": 0,
          "aria-valuemax": 100, "aria-valuenow": pct, testid: "compose-progress" },
        progressFill(pct)),
        h("p", { class: "small muted", text: `${pct} % done` })));
    schedulePoll();
  } else if (st === "failed") {
    box.append(
      h("div", { class: "state-icon bad", "aria-hidden": "true", text: "!" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "The playback file could not be made." }),
        h("p", { class: "muted", text: comp.reason ? `Reason: ${comp.reason}` : "No reason was given." }),
        h("p", { class: "muted", text: "The separate track recordings listed below are still kept; you can try composing again." }),
        h("button", { type: "button", class: "btn small", testid: "recompose", onclick: () => recompose("side_by_side") },
          "Try again")));
  } else if (st === "tracks") {
    box.append(
      h("div", { class: "state-icon", "aria-hidden": "true", text: "…" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "No playback file yet." }),
        h("p", { class: "muted", text: "This call has track recordings (below) but no combined playback file. Compose one to replay it here." }),
        canCompose ? h("button", { type: "button", class: "btn small primary", testid: "compose",
          onclick: () => recompose("side_by_side") }, "Compose playback file") : null));
  } else {
    const call = detail.call || {};
    let why = "Recording was not started for this call.";
    if (call.recording_consent === false) why = "The shopper declined to be recorded.";
    else if (detail.outcome !== "answered") why = "The call was never answered, so there was nothing to record.";
    box.append(
      h("div", { class: "state-icon", "aria-hidden": "true", text: "—" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "This call was not recorded." }),
        h("p", { class: "muted", text: `${why} The timeline, chat and photos are still shown.` })));
  }
}

/** The bar's width is set through the CSSOM: a style="" attribute is refused by the page's CSP. */
function progressFill(pct) {
  const fill = h("div", { class: "progress-fill" });
  fill.style.width = `${pct}%`;
  return fill;
}

function showPlayer(comp) {
  el.playerWrap.hidden = false;
  if (state.video && state.video.dataset.file === comp.file) return; // already playing this file
  el.playerWrap.textContent = "";
  const video = h("video", {
    controls: true, preload: "auto", playsinline: true, testid: "player", "data-file": comp.file || "",
    poster: comp.poster_url || null, "aria-label": "Recording of the call",
  });
  video.src = comp.file_url;
  state.video = video;
  state.mediaRefreshed = false;
  video.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(video.duration) && video.duration > 0) {
      state.duration = video.duration;
      layoutTimeline();
      updateTime(video.currentTime);
    }
  });
  for (const kind of ["timeupdate", "seeked", "seeking", "pause", "ended"]) {
    video.addEventListener(kind, () => updateTime(video.currentTime));
  }
  video.addEventListener("play", () => startRaf());
  video.addEventListener("error", () => refreshMedia(video));
  el.playerWrap.append(video);
  renderThumbs(comp);
}

/** Signed URLs expire (10 minutes): fetch fresh ones once and carry on where we were. */
async function refreshMedia(video) {
  if (state.mediaRefreshed || video !== state.video) {
    showError("The recording could not be played. It may have been deleted, or your browser cannot play it.");
    return;
  }
  state.mediaRefreshed = true;
  const gen = state.gen;
  const at = video.currentTime;
  try {
    const detail = await api(`/api/recordings/${encodeURIComponent(state.callId)}`);
    if (gen !== state.gen || !detail?.composite?.file_url) return;
    state.detail.composite = detail.composite;
    video.src = detail.composite.file_url;
    video.addEventListener("loadedmetadata", () => { video.currentTime = at; }, { once: true });
  } catch (err) {
    if (err.status !== 401 && err.status !== 403) showError(describe(err));
  }
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  const gen = state.gen;
  state.pollTimer = setTimeout(async () => {
    if (gen !== state.gen) return;
    let detail;
    try {
      detail = await api(`/api/recordings/${encodeURIComponent(state.callId)}`);
    } catch (err) {
      if (gen !== state.gen || err.status === 401 || err.status === 403) return;
      showError(`${describe(err)} Still trying…`);
      schedulePoll();
      return;
    }
    if (gen !== state.gen) return;
    clearError();
    const call = state.detail.call;
    state.detail = { ...detail, call: { ...detail.call, scorecard: call.scorecard ?? detail.call?.scorecard } };
    state.duration = baseDuration(state.detail);
    renderMedia(state.detail);
    renderTimeline(state.detail);
    renderTracks(state.detail);
    updateTime(currentTime());
  }, POLL_MS);
}

async function recompose(layout) {
  if (!state.callId) return;
  const gen = state.gen;
  el.recomposePip.disabled = true;
  clearError();
  try {
    await api(`/api/recordings/${encodeURIComponent(state.callId)}/compose`, {
      method: "POST", body: { layout }, authFatal: false,
    });
    if (gen !== state.gen) return;
    state.detail.composite = { state: "composing", progress: 0 };
    renderMedia(state.detail);
  } catch (err) {
    if (gen !== state.gen) return;
    showError(err.status === 403 ? "Only QA staff and administrators can re-compose recordings." : describe(err));
  } finally {
    el.recomposePip.disabled = false;
  }
}

el.recomposePip.addEventListener("click", () => recompose("pip"));

// ---- thumbnails: the server's sprite, separate images, or frames grabbed from the video

function imageUrls(list) {
  return (Array.isArray(list) ? list : []).filter((u) => {
    try {
      return /\.(jpe?g|png|webp)$/i.test(new URL(u, location.href).pathname);
    } catch {
      return false;
    }
  });
}

function renderThumbs(comp) {
  const strip = el.timeline.querySelector(".thumbs");
  if (!strip) return;
  strip.textContent = "";
  const times = Array.isArray(comp.thumbnail_times) && comp.thumbnail_times.length
    ? comp.thumbnail_times
    : Array.from({ length: 8 }, (_, i) => ((i + 0.5) * state.duration) / 8);
  const urls = imageUrls(comp.thumbnail_urls);
  const tiles = times.map((t, i) => {
    const tile = h("button", { type: "button", class: "thumb", testid: `thumb-${i}`, "data-offset": t.toFixed(3),
      title: `Jump to ${fmtClock(t)}`, "aria-label": `Preview at ${fmtClock(t)}: jump there`, onclick: () => seek(t) });
    tile.style.left = `${(100 * i) / times.length}%`;
    tile.style.width = `${100 / times.length}%`;
    strip.append(tile);
    return tile;
  });
  if (urls.length === 1 && times.length > 1) {
    // one horizontal sprite of all thumbnails
    tiles.forEach((tile, i) => {
      tile.style.backgroundImage = `url("${urls[0]}")`;
      tile.style.backgroundSize = `${times.length * 100}% 100%`;
      tile.style.backgroundPosition = `${(100 * i) / (times.length - 1)}% 0`;
    });
  } else if (urls.length === times.length) {
    tiles.forEach((tile, i) => { tile.style.backgroundImage = `url("${urls[i]}")`; });
  } else {
    grabThumbs(comp.file_url, times, tiles);
  }
}

/** Decode frames from a second, hidden <video> (same origin, so the canvas stays readable). */
async function grabThumbs(src, times, tiles) {
  if (!src) return;
  const gen = ++state.thumbGen;
  const probe = document.createElement("video");
  probe.muted = true;
  probe.preload = "auto";
  probe.src = src;
  const once = (target, name) => new Promise((resolve, reject) => {
    const ok = () => { cleanup(); resolve(); };
    const bad = () => { cleanup(); reject(new Error("video error")); };
    const cleanup = () => { target.removeEventListener(name, ok); target.removeEventListener("error", bad); };
    target.addEventListener(name, ok, { once: true });
    target.addEventListener("error", bad, { once: true });
  });
  try {
    if (probe.readyState < 1) await once(probe, "loadedmetadata");
    const canvas = document.createElement("canvas");
    const w = 192;
    canvas.width = w;
    canvas.height = Math.max(2, Math.round((w * probe.videoHeight) / Math.max(1, probe.videoWidth)));
    const ctx = canvas.getContext("2d");
    for (let i = 0; i < times.length; i += 1) {
      if (gen !== state.thumbGen) return;
      probe.currentTime = Math.min(times[i], Math.max(0, probe.duration - 0.05));
      await once(probe, "seeked");
      ctx.drawImage(probe, 0, 0, canvas.width, canvas.height);
      tiles[i].style.backgroundImage = `url("${canvas.toDataURL("image/jpeg", 0.72)}")`;
    }
  } catch {
    /* no previews: the strip stays as plain seek buttons */
  } finally {
    probe.removeAttribute("src");
    probe.load();
  }
}

// ---- timeline

function eventOffset(at) {
  return typeof at === "number" ? at - state.origin : 0;
}

function timelineEvents(call) {
  const out = [];
  const events = call.events || [];
  const hasConnected = events.some((e) => e.type === "connected");
  const counts = {};
  const add = (type, event, title) => {
    const index = counts[type] || 0;
    counts[type] = index + 1;
    out.push({ type, index, event, at: event.at, offset: eventOffset(event.at), title });
  };
  for (const e of events) {
    switch (e.type) {
      case "connected":
        add("joined", e, "Joined: both sides connected, media flowing");
        break;
      case "accepted":
        if (!hasConnected) add("joined", e, `Joined: ${e.name || e.agent_id || "the agent"} accepted`);
        break;
      case "chat": {
        const who = `${e.name || roleOf(e.role)} (${roleOf(e.role).toLowerCase()})`;
        const text = String(e.text || "");
        add("chat", e, `Chat — ${who}: ${text.length > 90 ? text.slice(0, 87) + "…" : text}`);
        break;
      }
      case "photo":
        add("photo", e, `Photo from ${e.name || roleOf(e.role)} (${roleOf(e.role).toLowerCase()})`);
        break;
      case "snapshot":
        add("snapshot", e, `Snapshot of the shopper's camera, taken by ${e.name || "the agent"}`);
        break;
      case "recording_paused":
        add("recording_paused", e, "Recording paused by the agent");
        break;
      case "recording_resumed":
        add("recording_resumed", e, "Recording resumed");
        break;
      case "transferred":
        add("transferred", e, `Transferred${e.to_agent ? ` to agent ${e.to_agent}` : e.to_queue ? ` to the ${e.to_queue} queue` : ""}`);
        break;
      case "reconnecting":
        add("reconnecting", e, `Connection trouble on the ${e.role || "?"} side${e.cause ? ` (${e.cause})` : ""}`);
        break;
      case "monitor_started":
        add("monitor", e, `Supervisor ${e.supervisor || ""} started listening`.replace("  ", " "));
        break;
      case "monitor_mode":
        add("monitor", e, `Supervisor switched to ${e.mode || "another"} mode`);
        break;
      case "monitor_stopped":
        add("monitor", e, "Supervisor stopped listening");
        break;
      case "ended":
        add("hang-up", e, e.reason === "hang_up"
          ? `Hang-up by the ${e.by || "?"}`
          : `Ended: ${END_WORDS[e.reason] || words(e.reason)}${
            ["shopper", "agent", "supervisor"].includes(e.by) ? ` by the ${e.by}` : ""}`);
        break;
      default:
        break;
    }
  }
  return out;
}

function pauseSpans(call) {
  const spans = [];
  let open = null;
  for (const e of call.events || []) {
    if (e.type === "recording_paused" && open === null) open = e.at;
    if (e.type === "recording_resumed" && open !== null) {
      spans.push([open, e.at]);
      open = null;
    }
  }
  const end = call.ended_at || firstAt(call, "ended");
  if (open !== null && end) spans.push([open, end]);
  return spans.map(([a, b]) => [eventOffset(a), eventOffset(b)]);
}

function renderTimeline(detail) {
  const call = detail.call || {};
  const tl = el.timeline;
  tl.textContent = "";
  state.markers = timelineEvents(call);
  const lanesUsed = new Set(["call", ...state.markers.map((m) => MARKER_TYPES[m.type].lane)]);
  const pauses = pauseSpans(call);
  if (pauses.length) lanesUsed.add("recording");

  const grid = h("div", { class: "tl-grid" });
  let rows = 0;
  const addRow = (label, track) => {
    rows += 1;
    label.style.gridRow = String(rows);
    track.style.gridRow = String(rows);
    grid.append(label, track);
  };
  // ruler (also a scrubber)
  addRow(h("div", { class: "tl-label ruler-label", "aria-hidden": "true" }),
    h("div", { class: "tl-track tl-ruler", "aria-hidden": "true" }));
  for (const [lane, label] of LANES) {
    if (!lanesUsed.has(lane)) continue;
    addRow(h("div", { class: "tl-label", text: label }),
      h("div", { class: `tl-track lane lane-${lane}`, "data-lane": lane }));
  }
  if (detail.composite?.state === "complete") {
    addRow(h("div", { class: "tl-label preview-label", text: "Preview" }),
      h("div", { class: "tl-track thumbs", testid: "thumbnails" }));
  }
  const overlay = h("div", { class: "tl-overlay", "aria-hidden": "true" },
    h("div", { class: "playhead", testid: "playhead" }, h("span", { class: "playhead-knob" })));
  overlay.style.gridRow = `1 / ${rows + 1}`; // over the ruler, every lane and the preview
  grid.append(overlay);
  tl.append(grid);

  const recLane = grid.querySelector(".lane-recording");
  state.pauseEls = pauses.map(([a, b]) => {
    const span = h("div", { class: "pause-span", title: `Recording paused ${fmtClock(a)}–${fmtClock(b)}`,
      "data-start": a, "data-end": b });
    recLane?.append(span);
    return span;
  });

  for (const m of state.markers) {
    const spec = MARKER_TYPES[m.type];
    const label = `${m.title} · ${fmtClock(Math.max(0, m.offset))}${m.offset < -0.5 ? " (before the recording starts)" : ""}`;
    m.el = h("button", {
      type: "button", class: `marker marker-${m.type}`, testid: `marker-${m.type}-${m.index}`,
      title: label, "aria-label": label, "data-offset": Math.max(0, m.offset).toFixed(3), "data-label": spec.label,
      onclick: () => {
        seek(Math.max(0, m.offset));
        highlightConversationAt(m);
      },
    }, icon(m.type));
    grid.querySelector(`.lane-${spec.lane}`).append(m.el);
  }

  // clicking or dragging on the tracks seeks
  grid.querySelectorAll(".tl-ruler, .lane").forEach((track) => {
    track.addEventListener("pointerdown", (ev) => {
      if (ev.target.closest(".marker")) return;
      const rect = track.getBoundingClientRect();
      const to = (x) => seek(Math.max(0, Math.min(1, (x - rect.left) / rect.width)) * state.duration);
      to(ev.clientX);
      const move = (e) => to(e.clientX);
      const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
  });
  layoutTimeline();
  if (detail.composite?.state === "complete") renderThumbs(detail.composite);
}

function pct(offset) {
  const d = state.duration > 0 ? state.duration : 1;
  return `${Math.max(0, Math.min(100, (100 * offset) / d))}%`;
}

function layoutTimeline() {
  const ruler = el.timeline.querySelector(".tl-ruler");
  if (!ruler) return;
  ruler.textContent = "";
  const d = state.duration;
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => d / s <= 7) || 3600;
  for (let i = 0; i * step <= d + 1e-6; i += 1) {
    const t = i * step;
    const tick = h("span", { class: "tick" }, h("span", { class: "tick-label", text: fmtClock(t, step < 1) }));
    tick.style.left = pct(t);
    if (t > d - step * 0.45 && t > 0) tick.classList.add("tick-last");
    ruler.append(tick);
  }
  for (const m of state.markers) {
    m.el.style.left = pct(Math.max(0, Math.min(m.offset, d)));
  }
  for (const span of state.pauseEls || []) {
    const a = Number(span.dataset.start);
    const b = Number(span.dataset.end);
    span.style.left = pct(a);
    span.style.width = `calc(${pct(b)} - ${pct(a)})`;
  }
}

// ---- time: playhead, clock, conversation reveal

function currentTime() {
  return state.video ? state.video.currentTime : state.virtualTime;
}

function seek(t) {
  const to = Math.max(0, Math.min(t, state.duration));
  if (state.video) {
    state.video.currentTime = to;
  } else {
    state.virtualTime = to;
    state.virtualMoved = true;
  }
  updateTime(to);
}

function startRaf() {
  cancelAnimationFrame(state.raf);
  const tick = () => {
    const video = state.video;
    if (!video || video.paused || video.ended) {
      state.raf = 0;
      return;
    }
    updateTime(video.currentTime);
    state.raf = requestAnimationFrame(tick);
  };
  state.raf = requestAnimationFrame(tick);
}

function updateTime(t) {
  const playhead = el.timeline.querySelector(".playhead");
  if (playhead) playhead.style.left = pct(t);
  el.clock.textContent = `${fmtClock(t, true)} / ${fmtClock(state.duration, true)}`;
  for (const m of state.markers) m.el?.classList.toggle("passed", m.offset <= t + 0.05);
  updateConversation(t);
}

function highlightConversationAt(marker) {
  const item = state.convo.find((c) => c.event === marker.event);
  if (item) {
    item.el.classList.remove("flash");
    void item.el.offsetWidth; // restart the animation
    item.el.classList.add("flash");
  }
}

// ---- conversation: chat and photos in time order

async function loadPhoto(url, img, frame) {
  const gen = state.gen;
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!res.ok) throw new Error(String(res.status));
    const blob = await res.blob();
    if (gen !== state.gen) return;
    const objectUrl = URL.createObjectURL(blob);
    state.blobUrls.push(objectUrl);
    img.src = objectUrl;
    frame.classList.remove("loading");
  } catch {
    if (gen !== state.gen) return;
    frame.classList.remove("loading");
    frame.classList.add("broken");
    frame.textContent = "Photo could not be loaded";
  }
}

function renderConversation(detail) {
  const call = detail.call || {};
  const list = el.conversation;
  list.textContent = "";
  state.convo = [];
  state.currentConvo = -2;
  const photoUrls = new Map((detail.photos || []).map((p) => [p.photo_id, p.url]));
  const items = (call.events || []).filter((e) => ["chat", "photo", "snapshot"].includes(e.type));
  if (!items.length) {
    list.append(h("li", { class: "convo-empty", text: "No chat messages or photos in this call." }));
    return;
  }
  const counts = {};
  for (const e of items) {
    const offset = Math.max(0, eventOffset(e.at));
    const index = counts[e.type] || 0;
    counts[e.type] = index + 1;
    const role = e.role || "shopper";
    const who = e.name || roleOf(role);
    const time = h("button", { type: "button", class: "convo-time", title: `Jump to ${fmtClock(offset)}`,
      "aria-label": `Jump the video to ${fmtClock(offset)}`, onclick: () => seek(offset) }, fmtClock(offset));
    let body;
    if (e.type === "chat") {
      body = h("p", { class: "convo-text", text: e.text || "" });
    } else {
      const url = photoUrls.get(e.photo_id) || `/api/calls/${encodeURIComponent(call.call_id)}/photos/${encodeURIComponent(e.photo_id)}`;
      const caption = e.type === "snapshot" ? `Snapshot taken by ${who}` : `Photo sent by ${who}`;
      const img = h("img", { alt: caption, width: e.width || null, height: e.height || null });
      const frame = h("button", { type: "button", class: "convo-photo loading", "aria-label": `${caption}: view larger`,
        onclick: () => { if (img.src) openPhoto(img.src, caption); } }, img);
      body = h("div", {}, frame, h("p", { class: "small muted", text: caption }));
      loadPhoto(url, img, frame);
    }
    const li = h("li", { class: `convo-item role-${role} kind-${e.type}`, testid: `${e.type}-item-${index}`,
      "data-offset": offset.toFixed(3), "data-state": "upcoming" },
    h("div", { class: "convo-meta" },
      h("span", { class: `avatar role-${role}`, "aria-hidden": "true", text: (who || "?").charAt(0).toUpperCase() }),
      h("span", { class: "convo-who", text: who }),
      h("span", { class: "convo-role", text: roleOf(role) }),
      time),
    body);
    list.append(li);
    state.convo.push({ offset, el: li, event: e });
  }
}

function updateConversation(t) {
  // Without a video nothing "plays": show everything until the reviewer moves the playhead.
  const reveal = el.revealToggle.checked && (!!state.video || state.virtualMoved);
  let current = -1;
  state.convo.forEach((item, i) => {
    const past = item.offset <= t + 0.05;
    if (past) current = i;
    item.el.classList.toggle("upcoming", reveal && !past);
  });
  state.convo.forEach((item, i) => {
    const st = i === current ? "current" : i < current ? "past" : "upcoming";
    if (item.el.dataset.state !== st) item.el.dataset.state = st;
  });
  if (current !== state.currentConvo) {
    state.currentConvo = current;
    const item = state.convo[current];
    if (item) {
      // keep the current message in view inside the panel, without moving the page
      const list = el.conversation; // position: relative, so offsetTop is measured inside it
      const top = item.el.offsetTop;
      const bottom = top + item.el.offsetHeight;
      if (top < list.scrollTop) {
        list.scrollTo({ top: Math.max(0, top - 8), behavior: "smooth" });
      } else if (bottom > list.scrollTop + list.clientHeight) {
        list.scrollTo({ top: Math.max(0, Math.min(top - 8, bottom - list.clientHeight + 8)), behavior: "smooth" });
      }
    }
  }
}

el.revealToggle.addEventListener("change", () => updateConversation(currentTime()));

function openPhoto(src, caption) {
  el.photoDialogImg.src = src;
  el.photoDialogImg.alt = caption;
  el.photoDialogTitle.textContent = caption;
  el.photoDialog.showModal();
}

// ---- previous / next event

function jumpEvent(direction) {
  const t = currentTime();
  const offsets = [...new Set(state.markers.map((m) => Math.max(0, m.offset)))].sort((a, b) => a - b);
  const target = direction > 0
    ? offsets.find((o) => o > t + 0.25)
    : [...offsets].reverse().find((o) => o < t - 0.75);
  seek(target ?? (direction > 0 ? state.duration : 0));
}

el.prevEvent.addEventListener("click", () => jumpEvent(-1));
el.nextEvent.addEventListener("click", () => jumpEvent(1));

// ---- facts

function dl(rows) {
  const list = h("dl", {});
  for (const [term, value] of rows) {
    if (value === null || value === undefined) continue;
    list.append(h("dt", { text: term }), h("dd", {}, value instanceof Node ? value : String(value)));
  }
  return list;
}

function money(price, currency) {
  if (price === undefined || price === null || price === "") return null;
  const n = Number(price);
  if (currency && Number.isFinite(n)) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(n);
    } catch {
      /* unknown currency code */
    }
  }
  return `${price}${currency ? " " + currency : ""}`;
}

function consentWords(call) {
  const events = call.events || [];
  if (call.recording_consent === true) return "Granted by the shopper";
  if (call.recording_consent === false) return "Declined by the shopper";
  if (events.some((e) => e.type === "recording_consent_asked")) return "Asked, no answer";
  if (events.some((e) => e.type === "recording_started")) return "Not asked: this queue always records (shopper informed)";
  return "Not recorded";
}

function renderFacts(detail) {
  const call = detail.call || {};
  const ctx = call.context || {};
  const events = call.events || [];
  const url = safeHttpUrl(ctx.url);
  const accepted = firstAt(call, "accepted");
  const facts = el.facts;
  facts.textContent = "";

  const product = dl([
    ["Product", ctx.title || "—"],
    ["Price", money(ctx.price, ctx.currency) || "—"],
    ["Category", words(ctx.category)],
    ["Product id", ctx.product_id || null],
    ["Page", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "ellipsis", text: url }) : ctx.url || "—"],
  ]);
  const ended = events.find((e) => e.type === "ended") || {};
  const endedBy = ["shopper", "agent", "supervisor"].includes(ended.by) ? ` by the ${ended.by}` : "";
  const endedDetail = ended.detail ? ` (${words(ended.detail).toLowerCase()})` : "";
  const answered = detail.outcome === "answered";
  const handling = dl([
    ["Queue", words(call.queue)],
    ["Agent", agentName(call) ? `${agentName(call)} · ${call.agent_id || ""}` : call.agent_id || "—"],
    ["Started", fmtDate(call.created_at, true)],
    ["Waited", accepted && call.created_at ? fmtDuration(accepted - call.created_at)
      : call.ended_at && call.created_at ? `${fmtDuration(call.ended_at - call.created_at)}, never answered` : "—"],
    ["Talk time", answered && call.ended_at && state.origin ? fmtDuration(call.ended_at - state.origin) : "—"],
    ["Ended", call.end_reason ? `${END_WORDS[call.end_reason] || words(call.end_reason)}${endedBy}${endedDetail}` : "—"],
  ]);
  const rating = call.rating || null;
  const outcome = dl([
    ["Shopper rating", rating ? stars(rating.score) : "Not rated"],
    ["Comment", rating?.comment ? h("q", { text: rating.comment }) : rating ? "No comment" : null],
    ["Disposition", words(call.disposition)],
    ["Agent notes", call.notes || "—"],
    ["Recording consent", consentWords(call)],
    ["Customer", call.customer_id || null],
  ]);
  facts.append(
    h("section", { class: "fact-group" }, h("h4", { text: "Context" }), product),
    h("section", { class: "fact-group" }, h("h4", { text: "Handling" }), handling),
    h("section", { class: "fact-group" }, h("h4", { text: "Outcome" }), outcome));
  renderTracks(detail);
}

function renderTracks(detail) {
  const tracks = detail.tracks?.length ? detail.tracks : detail.call?.recordings || [];
  el.tracks.textContent = "";
  const comp = detail.composite || {};
  if (!tracks.length && !comp.state) {
    el.tracks.append(h("p", { class: "muted", text: "No recordings for this call." }));
    return;
  }
  const body = h("tbody", {});
  const table = h("table", { class: "tracks" },
    h("thead", {}, h("tr", {}, ["Who", "Kind", "Codec", "State", "Length", "Pauses", ""].map((t) => h("th", { scope: "col", text: t })))),
    body);
  if (comp.state) {
    body.append(h("tr", { class: "composite-row" },
      h("td", {}, "Both"), h("td", {}, `Playback (${words(comp.layout || "side_by_side").toLowerCase()})`),
      h("td", {}, comp.state === "complete" ? "H.264 + AAC" : "—"),
      h("td", {}, chip(COMPOSITE_WORDS[comp.state] || words(comp.state), `rec-${comp.state}`)),
      h("td", {}, fmtDuration(comp.duration)), h("td", {}, "—"),
      h("td", {}, comp.file_url ? h("a", { href: comp.file_url, download: "", text: "Download" }) : "")));
  }
  for (const t of tracks) {
    body.append(h("tr", {},
      h("td", {}, roleOf(t.role)),
      h("td", {}, words(t.kind)),
      h("td", { class: "mono small" }, t.codec || "—"),
      h("td", {}, chip(words(t.state), t.state === "complete" ? "ok" : t.state === "failed" ? "bad" : "warn",
        { title: t.reason || "" })),
      h("td", {}, fmtDuration(t.duration)),
      h("td", {}, Array.isArray(t.pauses) && t.pauses.length ? String(t.pauses.length) : "—"),
      h("td", {}, t.url ? h("a", { href: t.url, download: "", text: "Download" }) : "")));
  }
  el.tracks.append(table);
}

// ---- scorecard

function criteriaOf(detail) {
  return Array.isArray(detail.criteria) && detail.criteria.length ? detail.criteria : Object.keys(CRITERIA_WORDS);
}

function renderScorecard(detail) {
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

function collectScores() {
  const scores = {};
  for (const select of el.criteria.querySelectorAll("select")) {
    if (select.value !== "") scores[select.name] = Number(select.value);
  }
  return scores;
}

function totalOf(scores) {
  const values = Object.values(scores);
  return values.length ? Math.round((values.reduce((a, b) => a + b, 0) / (5 * values.length)) * 100) : null;
}

function updateScoreTotal() {
  const scores = collectScores();
  const total = totalOf(scores);
  const n = Object.keys(scores).length;
  const all = el.criteria.querySelectorAll("select").length;
  el.scoreTotal.textContent = total === null ? "Total: —" : `Total: ${total} %`;
  el.scoreTotal.title = `${n} of ${all} criteria scored`;
}

function showSavedScorecard(card, criteria) {
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

function scoreDots(n) {
  return h("span", { class: "dots", role: "img", "aria-label": `${n} of 5`, title: `${n} of 5` },
    [0, 1, 2, 3, 4].map((i) => h("span", { class: i < n ? "dot on" : "dot" })));
}

function totalTone(total) {
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

async function loadScorecards(force = false) {
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

function renderScorecards(cards) {
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
      h("td", { class: "mono small", text: c.agent_id || "—" }),
      h("td", { class: "num" }, h("span", { class: `total-badge small ${totalTone(c.total)}`, text: `${c.total} %` })),
      criteria.map((k) => h("td", { class: "center" }, Number.isInteger(c.scores?.[k]) ? scoreDots(c.scores[k]) : "—")),
      h("td", { class: "notes", title: c.comment || "", text: c.comment || "—" }),
      h("td", { class: "small", text: c.by || "—" })));
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
      h("div", {}, h("p", { class: "mono small", text: agent }),
        h("p", { class: "small muted", text: `${totals.length} call${totals.length === 1 ? "" : "s"} scored` }))));
  }
}

// ----------------------------------------------------------------------------- start

function start() {
  let saved = null;
  try {
    saved = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    saved = null;
  }
  const claims = saved ? decodeToken(saved) : null;
  if (saved && claims && !(typeof claims.exp === "number" && claims.exp * 1000 < Date.now())) {
    setToken(saved);
  } else if (saved) {
    signOut(AUTH_WORDS);
  }
  updateWho();
  route();
}

// for tests and debugging
window.silklineQa = {
  state,
  seek,
  markers: () => state.markers.map(({ type, index, offset, title }) => ({ type, index, offset, title })),
};

start();
