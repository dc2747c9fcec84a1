// Signing in to the QA page: a staff account (AccountSignIn, refreshed before it expires), a demo
// QA token on a loopback demo server, or a pasted token (checked before use), kept in
// sessionStorage for this tab only; signing out forgets it.

import { AccountSignIn, SignIn } from "../components/sign-in.js";
import { h } from "../dom.js";
import { demoToken } from "../rest.js";
import { closeCall } from "./call-view.js";
import { chip, fmtDate, words } from "./format.js";
import { AUTH_WORDS, ApiError, TOKEN_KEY, clearError, describe, el, hooks, showError, state } from "./page.js";
import { route, setView } from "./views.js";

export function decodeToken(token) {
  try {
    const part = token.split(".")[1];
    const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

// ----------------------------------------------------------------------------- sign in

export function setToken(token) {
  state.token = token;
  state.claims = decodeToken(token);
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* private mode: memory only */
  }
  updateWho();
}

export function updateWho() {
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

export function signOut(message) {
  account.signOut();
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

async function demoSignIn(name) {
  clearError();
  try {
    const token = await demoToken("qa", name);
    if (!token) throw new ApiError(404, "no_demo", "Demo sign-in is switched off on this server. Paste a token instead.");
    setToken(token);
    route();
  } catch (err) {
    showError(err instanceof ApiError ? describe(err) : err.words || describe(err));
  }
}

function tokenSignIn(token) {
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
}

new SignIn({ // eslint-disable-line no-new
  demoForm: el.demoForm,
  nameInput: el.qaName,
  tokenForm: el.tokenForm,
  tokenInput: el.tokenInput,
  setError: showError,
  onName: demoSignIn,
  onToken: tokenSignIn,
  defaultName: "QA reviewer",
});

export const account = new AccountSignIn({
  root: el.signinView,
  page: "qa",
  roles: ["qa", "supervisor", "admin"],
  storageKey: "silkline.qa.session",
  roleWords: "Call review is for QA, supervisor and admin accounts.",
  onSignedIn: (session) => {
    clearError();
    setToken(session.token);
    route();
  },
  onRefreshed: (session) => setToken(session.token),
});

hooks.signOut = signOut;

el.signOut.addEventListener("click", () => {
  signOut("");
  location.hash = "#/calls";
});
