// Silkline shopper widget: "Video call an expert", embeddable on any product page.
//
//   <script type="module" src="https://SILKLINE/static/js/widget.js"
//           data-silkline-mount="#expert-call"           (optional: where the button goes;
//                                                          default: a floating button)
//           data-silkline-product="Aurelia sapphire ring" (optional: shown to the agent)
//           data-silkline-label="Video call an expert"   (optional: button text)
//           data-silkline-server="https://SILKLINE"      (optional: default = where this file is)
//           data-silkline-token-url="/shop/silkline-token" (optional: your backend that mints a
//                                                          shopper token; default: the demo
//                                                          endpoint POST /api/demo/tokens)
//           data-silkline-debug></script>                (optional: log to the console)
//
// Everything the widget draws lives in a shadow root, so its CSS neither leaks into the page
// nor picks up the page's rules.

import { CallSession, websocketUrl } from "./call-client.js";

const SCRIPT_URL = import.meta.url;

function findScriptTag() {
  const scripts = [...document.querySelectorAll("script[src]")];
  const mine = scripts.find((s) => {
    try {
      return new URL(s.getAttribute("src"), document.baseURI).href.split(/[?#]/)[0] === SCRIPT_URL.split(/[?#]/)[0];
    } catch (_) {
      return false;
    }
  });
  return mine || scripts.find((s) => [...s.attributes].some((a) => a.name.startsWith("data-silkline")));
}

function readConfig(tag) {
  const attr = (name, fallback = null) => (tag && tag.hasAttribute(`data-silkline-${name}`) ? tag.getAttribute(`data-silkline-${name}`) : fallback);
  const server = new URL(attr("server") || new URL("/", SCRIPT_URL).href, location.href);
  return {
    server,
    wsUrl: websocketUrl(server.href),
    tokenUrl: new URL(attr("token-url") || "/api/demo/tokens", server).href,
    mount: attr("mount"),
    product: attr("product") || document.title,
    label: attr("label") || "Video call an expert",
    debug: (tag ? tag.hasAttribute("data-silkline-debug") : false) || new URLSearchParams(location.search).has("silkline-debug"),
  };
}

const ICON_CAMERA = `<svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="currentColor" d="M4 6h11a2 2 0 0 1 2 2v1.6l3.4-2.3A1 1 0 0 1 22 8.1v7.8a1 1 0 0 1-1.6.8L17 14.4V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z"/></svg>`;

const TEMPLATE = `
<div class="sl-root">
  <button type="button" class="sl-call" data-testid="call-button">${ICON_CAMERA}<span class="sl-call-label"></span></button>
  <section class="sl-panel" role="dialog" aria-modal="false" aria-labelledby="sl-title" hidden>
    <header class="sl-head">
      <h2 id="sl-title" class="sl-title" tabindex="-1">Video call with an expert</h2>
      <p class="sl-state" data-testid="call-state" data-state="idle" role="status" aria-live="polite" aria-atomic="true">Not in a call</p>
    </header>
    <div class="sl-stage">
      <video class="sl-remote" data-testid="remote-video" autoplay playsinline aria-label="The expert's video"></video>
      <div class="sl-placeholder" aria-hidden="true"><span class="sl-spinner"></span><span class="sl-placeholder-text"></span></div>
      <video class="sl-self" data-testid="local-video" autoplay playsinline muted aria-label="Your camera"></video>
    </div>
    <p class="sl-notice" aria-live="polite"></p>
    <p class="sl-error" role="alert"></p>
    <div class="sl-controls">
      <button type="button" class="sl-btn sl-mute" aria-pressed="false">Mute</button>
      <button type="button" class="sl-btn sl-camera" aria-pressed="false">Camera off</button>
      <button type="button" class="sl-btn sl-hangup" data-testid="hang-up">Hang up</button>
      <button type="button" class="sl-btn sl-again" hidden>Call again</button>
      <button type="button" class="sl-btn sl-close" hidden>Close</button>
    </div>
  </section>
</div>`;

const IN_CALL = new Set(["starting", "waiting", "ringing", "connecting", "connected", "reconnecting"]);

class ShopperWidget {
  constructor(config) {
    this.config = config;
    this.session = null;
    this.state = "idle";
    this.history = ["idle"];

    this.host = document.createElement("silkline-call");
    this.host.style.display = "contents";
    const mount = config.mount && document.querySelector(config.mount);
    if (mount) {
      mount.appendChild(this.host);
    } else {
      this.host.setAttribute("data-floating", "");
      document.body.appendChild(this.host);
    }
    const root = this.host.attachShadow({ mode: "open" });
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = new URL("../css/widget.css", SCRIPT_URL).href;
    root.appendChild(css);
    const wrap = document.createElement("div");
    wrap.innerHTML = TEMPLATE;
    root.appendChild(wrap.firstElementChild);
    this.root = root;

    const $ = (sel) => root.querySelector(sel);
    this.el = {
      rootDiv: $(".sl-root"),
      call: $(".sl-call"),
      callLabel: $(".sl-call-label"),
      panel: $(".sl-panel"),
      title: $(".sl-title"),
      state: $(".sl-state"),
      remote: $(".sl-remote"),
      local: $(".sl-self"),
      placeholder: $(".sl-placeholder"),
      placeholderText: $(".sl-placeholder-text"),
      notice: $(".sl-notice"),
      error: $(".sl-error"),
      mute: $(".sl-mute"),
      camera: $(".sl-camera"),
      hangup: $(".sl-hangup"),
      again: $(".sl-again"),
      close: $(".sl-close"),
    };
    if (!mount) this.el.rootDiv.classList.add("sl-floating");
    this.el.callLabel.textContent = config.label;

    this.el.call.addEventListener("click", () => this.startCall());
    this.el.again.addEventListener("click", () => this.startCall());
    this.el.hangup.addEventListener("click", () => this.hangUp());
    this.el.close.addEventListener("click", () => this.closePanel());
    this.el.mute.addEventListener("click", () => this.toggleTrack("audio", this.el.mute, "Mute", "Unmute"));
    this.el.camera.addEventListener("click", () => this.toggleTrack("video", this.el.camera, "Camera off", "Camera on"));
    window.addEventListener("pagehide", () => this.session && this.session.leave());

    this.render("idle", "Not in a call");
  }

  async getToken() {
    let res;
    try {
      res = await fetch(this.config.tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ role: "shopper" }),
      });
    } catch (_) {
      throw Object.assign(new Error("fetch failed"), { words: "Could not reach the video service. Check your connection and try again." });
    }
    if (res.status === 404) {
      throw Object.assign(new Error("no token endpoint"), { words: "Video calls are not available on this page right now." });
    }
    if (!res.ok) {
      throw Object.assign(new Error(`token ${res.status}`), { words: "The video service could not start a call. Please try again in a moment." });
    }
    const body = await res.json();
    if (!body.token) throw Object.assign(new Error("no token"), { words: "The video service gave no call ticket." });
    return body.token;
  }

  async startCall() {
    if (this.session && IN_CALL.has(this.state)) return;
    this.openPanel();
    this.el.error.textContent = "";
    this.el.notice.textContent = "";
    this.el.title.textContent = "Video call with an expert";
    this.resetToggles();
    const session = new CallSession({
      role: "shopper",
      getToken: () => this.getToken(),
      wsUrl: this.config.wsUrl,
      localVideo: this.el.local,
      remoteVideo: this.el.remote,
      otherName: "the expert",
      debug: this.config.debug,
      context: { product: this.config.product, page: location.href, title: document.title },
    });
    this.session = session;
    session.on("state", (s) => {
      if (this.session === session) this.render(s.state, s.words);
    });
    session.on("participant-state", (m) => {
      if (this.session !== session) return;
      this.el.notice.textContent = m.state === "connected" ? "" : m.words;
    });
    session.on("error", (e) => {
      if (this.session === session && e.words) this.el.error.textContent = e.words;
    });
    session.on("message", (m) => {
      // Servers that name the expert (`agent-joined{name}`) get a personal title.
      if (this.session === session && m.type === "agent-joined" && typeof m.name === "string" && m.name) {
        this.el.title.textContent = `Video call with ${m.name}`;
      }
    });
    // The camera starts while the call is being set up (and shows as the self view).
    session.acquireMedia().catch((err) => {
      if (this.session === session) session._fail(err);
    });
    try {
      await session.start();
    } catch (err) {
      if (this.session === session && session.state !== "error") session._fail(err);
    }
  }

  hangUp() {
    const s = this.session;
    if (!s) return;
    if (s.state === "starting" || !s.callId) {
      s.leave();
      this.render("ended", "You cancelled the call.");
      return;
    }
    this.el.hangup.disabled = true;
    this.el.hangup.textContent = "Ending…";
    s.hangup();
  }

  toggleTrack(kind, button, onLabel, offLabel) {
    const stream = this.session && this.session.localStream;
    if (!stream) return;
    const tracks = kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
    const off = button.getAttribute("aria-pressed") !== "true";
    tracks.forEach((t) => (t.enabled = !off));
    button.setAttribute("aria-pressed", String(off));
    button.textContent = off ? offLabel : onLabel;
  }

  resetToggles() {
    this.el.mute.setAttribute("aria-pressed", "false");
    this.el.mute.textContent = "Mute";
    this.el.camera.setAttribute("aria-pressed", "false");
    this.el.camera.textContent = "Camera off";
  }

  openPanel() {
    this.el.panel.hidden = false;
    this.el.call.hidden = this.el.rootDiv.classList.contains("sl-floating");
    this.el.call.setAttribute("aria-expanded", "true");
    this.el.title.focus();
  }

  closePanel() {
    this.el.panel.hidden = true;
    this.el.call.hidden = false;
    this.el.call.setAttribute("aria-expanded", "false");
    this.render("idle", "Not in a call");
    this.el.call.focus();
  }

  render(state, words) {
    if (state !== this.state) this.history.push(state);
    this.state = state;
    const el = this.el;
    el.rootDiv.dataset.state = state;
    el.state.dataset.state = state;
    // In an error the state line says so briefly; the alert below carries the sentence.
    el.state.textContent = state === "error" ? "The call could not go on" : words || state;
    const live = IN_CALL.has(state);
    if (state === "connected") el.error.textContent = ""; // earlier hiccups are over
    el.call.disabled = live;
    el.hangup.hidden = !live;
    el.hangup.disabled = false;
    el.hangup.textContent = state === "waiting" || state === "ringing" || state === "starting" ? "Cancel call" : "Hang up";
    el.mute.hidden = el.camera.hidden = !live;
    el.local.hidden = !live;
    el.again.hidden = el.close.hidden = live || state === "idle";
    el.again.textContent = state === "error" ? "Try again" : "Call again";
    const placeholder = {
      starting: "Starting your camera…",
      waiting: "Waiting for an expert…",
      ringing: "An expert is being connected…",
      connecting: "Connecting video…",
      reconnecting: "Reconnecting…",
      ended: "Call ended",
      error: "No video",
    }[state];
    el.placeholder.hidden = !placeholder;
    el.placeholderText.textContent = placeholder || "";
    el.placeholder.classList.toggle("sl-busy", live);
    if (state === "ended" || state === "error") {
      el.notice.textContent = "";
      if (state === "error") el.error.textContent = words || "Something went wrong.";
      // Keyboard users land on the next sensible action.
      queueMicrotask(() => el.again.focus());
    }
  }
}

const widget = new ShopperWidget(readConfig(findScriptTag()));

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (widget.session ? widget.session.peer() : null),
  state: () => widget.state,
  history: () => widget.history.slice(),
  widget,
});
