// Silkline QA: find recorded calls, replay them against their timeline, score them.
//
// Routes (in the URL fragment): #/calls, #/call/<call_id>, #/scorecards.
// The token lives in memory and in sessionStorage (this tab only); media plays from the
// short-lived signed URLs the API hands out, photos are fetched with the Bearer token.
//
// This module only starts the page; its parts live in qa/ around one state object (qa/page.js).

import { AUTH_WORDS, TOKEN_KEY, state } from "./qa/page.js";
import "./qa/scorecard.js";
import { account, decodeToken, setToken, signOut, updateWho } from "./qa/sign-in.js";
import { seek } from "./qa/timeline.js";
import { route } from "./qa/views.js";

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
  account.start(); // the demo and SSO buttons, this tab's account session, an SSO round trip
}

// for tests and debugging
window.silklineQa = {
  state,
  seek,
  markers: () => state.markers.map(({ type, index, offset, title }) => ({ type, index, offset, title })),
};

start();

