// The QA page's one state object, its elements, errors in words, and the REST calls
// (a 401/403 signs the page out).

import { BlobUrls } from "../components/photo.js";
import { requestJson } from "../rest.js";

export const TOKEN_KEY = "silkline.qa.token";
export const AUTH_WORDS = "Your sign-in has expired or you may not see recordings.";
export const POLL_MS = 1000;

export const $ = (id) => document.getElementById(id);
export const el = {
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
  filterAgent: $("f-agent"),
  filterQueue: $("f-queue"),
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

export const state = {
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
  blobUrls: new BlobUrls(), // the open call's photos
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
  reveal: true, // conversation revealed in step with the playback (the toggle starts checked)
};

// ----------------------------------------------------------------------------- errors and API

/** Set by the sign-in: what a refused token leads to. */
export const hooks = { signOut: () => {} };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function showError(message) {
  el.error.textContent = message || "";
}

export function clearError() {
  el.error.textContent = "";
}

export function describe(err) {
  if (err instanceof ApiError) return err.message;
  return "Cannot reach the Silkline server. Check your connection and try again.";
}

/** fetch JSON with the Bearer token. A 401/403 signs the page out unless `authFatal` is false. */
export async function api(path, { method = "GET", body, authFatal = true } = {}) {
  let answer;
  try {
    answer = await requestJson(path, { token: state.token, method, body });
  } catch (_) {
    throw new ApiError(0, "network", "Cannot reach the Silkline server. Check your connection and try again.");
  }
  const { status, ok, statusText, data } = answer;
  if (ok) return data;
  const code = data?.error?.code || `http_${status}`;
  const detail = data?.error?.message || statusText || "";
  if (status === 401 || status === 403) {
    const said = detail ? ` The server said: ${detail.replace(/\.$/, "")}.` : "";
    const err = new ApiError(status, code, `${AUTH_WORDS}${said} Sign in again with a QA, supervisor or admin account.`);
    if (authFatal) hooks.signOut(err.message);
    throw err;
  }
  if (status === 404) throw new ApiError(404, code, detail || "Not found.");
  throw new ApiError(status, code, detail ? `The server refused: ${detail}` : `The server answered ${status}.`);
}
