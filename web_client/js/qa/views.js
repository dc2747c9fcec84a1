// The QA page's views (sign-in, calls, one call, scorecards) and the routes in the URL
// fragment: #/calls, #/call/<call_id>, #/scorecards.

import { closeCall, openCall } from "./call-view.js";
import { $, el, state } from "./page.js";
import { loadScorecards } from "./scorecard.js";
import { search } from "./search.js";

// ----------------------------------------------------------------------------- views and routing

export function setView(name) {
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

export function route() {
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
