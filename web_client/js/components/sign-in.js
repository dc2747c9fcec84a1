// The staff sign-in: an account (AccountSignIn, below), or a name for a demo token, or a pasted token. Used by the agent console, the
// supervisor view and the QA page. The page decides what a name or a token leads to; this form
// checks that the field is filled and keeps its button disabled while the page signs in.

export class SignIn {
  /**
   * demoForm/nameInput: the name form; tokenForm/tokenInput: the token form.
   * onName(name), onToken(token): may return a promise (the button stays disabled meanwhile).
   * defaultName: used for an empty name (else an empty name is refused in words).
   */
  constructor({ demoForm, nameInput, tokenForm, tokenInput, setError, onName, onToken,
    focusEmptyName = false, defaultName = null }) {
    this.nameInput = nameInput;
    this.tokenInput = tokenInput;
    this.demoButton = demoForm.querySelector('button[type="submit"], button');
    demoForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim() || defaultName || "";
      if (!name) {
        setError("Type your name first.");
        if (focusEmptyName) nameInput.focus();
        return;
      }
      this._busy(onName(name));
    });
    tokenForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = tokenInput.value.trim().replace(/^Bearer\s+/i, "");
      if (!token) {
        setError("Paste a token first.");
        return;
      }
      onToken(token);
    });
  }

  async _busy(result) {
    if (!result || typeof result.then !== "function") return;
    this.demoButton.disabled = true;
    try {
      await result;
    } finally {
      this.demoButton.disabled = false;
    }
  }
}

// --- sign-in with a staff account ---------------------------------------------------------
//
// AccountSignIn: the user name + password form every staff page shows (POST /api/login), the
// single sign-on button and the demo block when the server offers them (GET /api/login/options),
// the staff token kept in sessionStorage (this tab only), a refresh before it expires
// (POST /api/login/refresh) and, when that is refused, the form again with the reason in words.
// The page says what a session leads to (onSignedIn) and what a refresh changes (onRefreshed).

const LOGIN_WORDS = {
  bad_credentials: "The user name or the password is wrong.",
  account_disabled: "This account is disabled. Ask an administrator to enable it.",
  invalid_message: "Type your user name and your password.",
  bad_json: "Type your user name and your password.",
  sso_failed: "Single sign-on did not complete. Try again, or sign in with your password.",
  sso_no_role: "Single sign-on worked, but your company account has no Silkline role. Ask an administrator.",
  service_unavailable: "The server cannot check sign-ins right now. Try again in a minute.",
};
const REFRESH_AT = 0.8; // of the token's lifetime
const MIN_REFRESH_MS = 5000;

function lockedWords(retryAfter) {
  const s = Number(retryAfter);
  const when = s > 90 ? `in ${Math.ceil(s / 60)} minutes` : s > 0 ? `in ${Math.ceil(s)} seconds` : "later";
  return `Too many failed sign-ins: this account is locked. Try again ${when}, or ask an administrator to reset it.`;
}

async function post(path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin" });
  } catch (_) {
    return { status: 0, data: null, words: "Could not reach the Silkline server. Check the connection and try again." };
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) { /* not JSON */ }
  const code = data && data.error ? data.error.code : null;
  const words = res.ok ? "" : code === "account_locked" ? lockedWords(res.headers.get("Retry-After"))
    : LOGIN_WORDS[code] || `The server refused to sign you in (HTTP ${res.status}).`;
  return { status: res.status, data, code, words };
}

export class AccountSignIn {
  /**
   * root: the element holding the form (data-testid sign-in-username, sign-in-password,
   *   sign-in-submit, sign-in-error), the SSO block ([data-sign-in-sso] with a
   *   data-testid="sign-in-sso" link) and the demo block ([data-sign-in-demo]), both hidden until
   *   the server offers them.
   * page: "agent" | "supervisor" | "qa" (the SSO round trip comes back to it).
   * roles: the roles this page is for; another account's sign-in is refused in words.
   * onSignedIn(session), onRefreshed(session): session = {token, role, name, display_name, expiresAt}.
   */
  constructor({ root, page, roles, storageKey, onSignedIn, onRefreshed = () => {}, roleWords }) {
    this.page = page;
    this.roles = roles;
    this.storageKey = storageKey;
    this.onSignedIn = onSignedIn;
    this.onRefreshed = onRefreshed;
    this.roleWords = roleWords || `This page is for ${roles.join(" or ")} accounts.`;
    this.session = null;
    this._timer = null;
    const find = (sel) => root.querySelector(sel);
    this.form = find('[data-testid="sign-in-submit"]').form;
    this.username = find('[data-testid="sign-in-username"]');
    this.password = find('[data-testid="sign-in-password"]');
    this.submit = find('[data-testid="sign-in-submit"]');
    this.error = find('[data-testid="sign-in-error"]');
    this.ssoBlock = find("[data-sign-in-sso]");
    this.ssoLink = find('[data-testid="sign-in-sso"]');
    this.demoBlock = find("[data-sign-in-demo]");
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.signIn();
    });
  }

  get token() {
    return this.session ? this.session.token : null;
  }

  setError(words) {
    this.error.textContent = words || "";
  }

  /** Asks the server what it offers, then resumes this tab's session or finishes an SSO round trip.
   *  Resolves with the options ({password, demo, sso}). */
  async start() {
    let options = { password: true, demo: false, sso: null };
    try {
      const res = await fetch("/api/login/options", { headers: { Accept: "application/json" } });
      if (res.ok) options = await res.json();
    } catch (_) { /* the form still works when the server comes back */ }
    if (this.demoBlock) this.demoBlock.hidden = !options.demo;
    if (this.ssoBlock) {
      this.ssoBlock.hidden = !options.sso;
      if (options.sso && this.ssoLink) {
        this.ssoLink.textContent = options.sso.label;
        this.ssoLink.href = `${options.sso.start}?page=${encodeURIComponent(this.page)}`;
      }
    }
    const params = new URLSearchParams(location.search);
    if (params.has("sso") || params.has("sso_error")) {
      const failed = params.get("sso_error");
      params.delete("sso");
      params.delete("sso_error");
      history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}${location.hash}`);
      if (failed) this.setError(LOGIN_WORDS[failed] || "Single sign-on did not complete.");
      else await this._finishSso();
      return options;
    }
    const saved = this._load();
    if (saved && saved.expiresAt > Date.now() + MIN_REFRESH_MS) this._accept(saved, false);
    else if (saved) {
      this._forget();
      this.username.value = saved.name || "";
      this.setError("Your sign-in has expired. Sign in again.");
    }
    return options;
  }

  async signIn() {
    const username = this.username.value.trim();
    const password = this.password.value;
    if (!username || !password) {
      this.setError(LOGIN_WORDS.invalid_message);
      (username ? this.password : this.username).focus();
      return;
    }
    this.setError("");
    this.submit.disabled = true;
    try {
      const res = await post("/api/login", { body: { username, password } });
      if (res.status !== 200) {
        this.setError(res.words);
        this.password.select();
        this.password.focus();
        return;
      }
      this.password.value = "";
      this._accept(res.data, true);
    } finally {
      this.submit.disabled = false;
    }
  }

  async _finishSso() {
    const res = await post("/api/oidc/session");
    if (res.status !== 200) {
      this.setError(res.words);
      return;
    }
    this._accept(res.data, true);
  }

  /** A session from the server (fresh) or from this tab's storage; refused for the wrong role. */
  _accept(data, fresh) {
    if (!this.roles.includes(data.role)) {
      this._forget();
      this.setError(`You signed in as ${data.display_name || data.name}, a ${data.role} account. ${this.roleWords}`);
      return;
    }
    const session = fresh ? { ...data, expiresAt: Date.now() + (data.expires_in || 3600) * 1000 } : data;
    delete session.expires_in;
    this.session = session;
    this._save();
    this._schedule();
    this.setError("");
    this.onSignedIn(session);
  }

  _schedule() {
    clearTimeout(this._timer);
    if (!this.session) return;
    const left = this.session.expiresAt - Date.now();
    this._timer = setTimeout(() => this.refresh(), Math.max(MIN_REFRESH_MS, left * REFRESH_AT));
  }

  /** A fresh token for this sign-in; when the server refuses, the form asks again (resolves false). */
  async refresh() {
    if (!this.session) return false;
    const res = await post("/api/login/refresh", { token: this.session.token });
    if (!this.session) return false; // signed out meanwhile
    if (res.status === 200) {
      this.session = { ...res.data, expiresAt: Date.now() + (res.data.expires_in || 3600) * 1000 };
      delete this.session.expires_in;
      this._save();
      this._schedule();
      this.onRefreshed(this.session);
      return true;
    }
    if (res.status === 0) { // offline: try again soon, while the token lasts
      if (this.session.expiresAt > Date.now() + MIN_REFRESH_MS) this._timer = setTimeout(() => this.refresh(), MIN_REFRESH_MS * 6);
      return false;
    }
    const name = this.session.name;
    this.signOut();
    this.username.value = name || "";
    this.setError(res.code === "account_disabled" ? res.words : "Your sign-in has expired. Sign in again.");
    this.password.focus();
    return false;
  }

  /** Forgets the session (the page closes its own connections). */
  signOut() {
    clearTimeout(this._timer);
    this.session = null;
    this._forget();
  }

  _load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");
      return saved && typeof saved.token === "string" && typeof saved.expiresAt === "number" ? saved : null;
    } catch (_) {
      return null;
    }
  }

  _save() {
    try {
      sessionStorage.setItem(this.storageKey, JSON.stringify(this.session));
    } catch (_) { /* private mode: memory only */ }
  }

  _forget() {
    try {
      sessionStorage.removeItem(this.storageKey);
    } catch (_) { /* ignore */ }
  }
}
