// Silkline shopper widget: "Video call an expert", embeddable on any product page.
//
//   <script type="module" src="https://SILKLINE/static/js/widget.js"
//           data-silkline-mount="#expert-call"            (optional: where the button goes;
//                                                           default: a floating button)
//           data-silkline-product-id="AUR-152-WG"          (optional, shown to the agent)
//           data-silkline-title="Aurelia sapphire ring"    (optional; default: the page title)
//           data-silkline-price="2480"                     (optional)
//           data-silkline-currency="EUR"                   (optional)
//           data-silkline-category="rings"                 (optional: the entry point that picks
//                                                           the queue, e.g. rings -> jewellery)
//           data-silkline-customer-id="cust-1042"          (optional: if the shop knows them)
//           data-silkline-label="Video call an expert"    (optional: button text)
//           data-silkline-server="https://SILKLINE"       (optional: default = where this file is)
//           data-silkline-token-url="/shop/silkline-token" (optional: your backend that mints a
//                                                           shopper token; default: the demo
//                                                           endpoint POST /api/demo/tokens)
//           data-silkline-debug></script>                 (optional: log to the console)
//
// The attributes are read when a call starts, so a page may change them at any time (a size or
// colour picker, a customer signing in). `data-silkline-product` (a title) is still understood.
// The widget keeps the last few pages visited on this site (localStorage) and sends them with
// the call, so the expert sees where the shopper came from.
//
// Everything the widget draws lives in a shadow root, so its CSS neither leaks into the page
// nor picks up the page's rules.

import { CallSession, describeError, websocketUrl } from "./call-client.js";
import { clock, photoBlobUrl, timeOfDay, toggleTrack, uploadPhoto } from "./ui-common.js";

const SCRIPT_URL = import.meta.url;
const TRAJECTORY_KEY = "silkline:trajectory";
const TRAJECTORY_MAX = 6;

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
    tag,
    server,
    wsUrl: websocketUrl(server.href),
    tokenUrl: new URL(attr("token-url") || "/api/demo/tokens", server).href,
    mount: attr("mount"),
    label: attr("label") || "Video call an expert",
    debug: (tag ? tag.hasAttribute("data-silkline-debug") : false) || new URLSearchParams(location.search).has("silkline-debug"),
  };
}

// --- the page context (join.context) ----------------------------------------------------

function attrOf(tag, name) {
  const v = tag && tag.getAttribute(`data-silkline-${name}`);
  return v === null || v === undefined || v.trim() === "" ? null : v.trim();
}

function pageTitle(tag) {
  return attrOf(tag, "title") || attrOf(tag, "product") || document.title || location.pathname;
}

function readTrajectory() {
  try {
    const list = JSON.parse(localStorage.getItem(TRAJECTORY_KEY) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.url === "string") : [];
  } catch (_) {
    return [];
  }
}

/** Adds this page to the trajectory (the last few pages visited on this site). */
function recordVisit(tag) {
  const list = readTrajectory();
  const entry = { url: location.href, title: pageTitle(tag).slice(0, 200), at: Date.now() };
  if (list.length && list[list.length - 1].url === entry.url) list[list.length - 1] = entry;
  else list.push(entry);
  try {
    localStorage.setItem(TRAJECTORY_KEY, JSON.stringify(list.slice(-TRAJECTORY_MAX)));
  } catch (_) {
    /* private mode or full storage: no trajectory */
  }
}

/** The flat `join.context` object (protocol.md, "Page context"), read when the call starts. */
export function pageContext(tag, media) {
  const ctx = {
    title: pageTitle(tag),
    url: location.href,
    locale: navigator.language || null,
    media,
  };
  const priceRaw = attrOf(tag, "price");
  const price = priceRaw !== null && priceRaw !== "" && !Number.isNaN(Number(priceRaw)) ? Number(priceRaw) : priceRaw;
  const fields = {
    product_id: attrOf(tag, "product-id"),
    price,
    currency: attrOf(tag, "currency"),
    category: attrOf(tag, "category"),
    customer_id: attrOf(tag, "customer-id"),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== null && v !== undefined) ctx[k] = v;
  const trail = readTrajectory().slice(-5);
  if (trail.length) {
    ctx.trajectory = trail.map((e) => e.url);
    ctx.trajectory_titles = trail.map((e) => e.title || e.url);
  }
  return ctx;
}

// --- words --------------------------------------------------------------------------------

function minutesWords(seconds) {
  if (seconds === null || seconds === undefined) return null;
  if (seconds < 45) return "less than a minute";
  const m = Math.round(seconds / 60);
  return m <= 1 ? "about a minute" : `about ${m} minutes`;
}

const ICON_CAMERA = `<svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="currentColor" d="M4 6h11a2 2 0 0 1 2 2v1.6l3.4-2.3A1 1 0 0 1 22 8.1v7.8a1 1 0 0 1-1.6.8L17 14.4V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z"/></svg>`;
const ICON_PHONE = `<svg aria-hidden="true" viewBox="0 0 24 24" width="22" height="22"><path fill="currentColor" d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.46.57 3.6a1 1 0 0 1-.25 1z"/></svg>`;
const ICON_CAMERA_BIG = ICON_CAMERA.replace('width="20" height="20"', 'width="22" height="22"');
const ICON_CLIP = `<svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M5 5h3l1.5-2h5L16 5h3a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2zm7 3.5a4.5 4.5 0 1 0 0 9 4.5 4.5 0 0 0 0-9zm0 2a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5z"/></svg>`;

const TEMPLATE = `
<div class="sl-root">
  <button type="button" class="sl-call" data-testid="call-button" aria-haspopup="dialog" aria-expanded="false">${ICON_CAMERA}<span class="sl-call-label"></span></button>
  <section class="sl-panel" role="dialog" aria-modal="false" aria-labelledby="sl-title" hidden>
    <header class="sl-head">
      <div class="sl-head-text">
        <h2 id="sl-title" class="sl-title" tabindex="-1">Talk to an expert</h2>
        <p class="sl-state" data-testid="call-state" data-state="idle" role="status" aria-live="polite" aria-atomic="true">Not in a call</p>
      </div>
      <span class="sl-rec" data-testid="recording-indicator" data-state="off" role="status" hidden></span>
      <button type="button" class="sl-x" data-testid="close-panel" aria-label="Close" hidden>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4L12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>
      </button>
    </header>
    <div class="sl-body">
      <p class="sl-super" data-testid="supervisor-notice" role="status" hidden></p>

      <div class="sl-choose" role="group" aria-labelledby="sl-choose-title" hidden>
        <p id="sl-choose-title" class="sl-lead">How would you like to talk?</p>
        <button type="button" class="sl-mode" data-testid="mode-video">
          <span class="sl-mode-icon">${ICON_CAMERA_BIG}</span>
          <span><strong>Video call</strong><span class="sl-sub">See the expert, and show them what you have.</span></span>
        </button>
        <button type="button" class="sl-mode" data-testid="mode-voice">
          <span class="sl-mode-icon">${ICON_PHONE}</span>
          <span><strong>Voice only</strong><span class="sl-sub">No camera needed. You still see the expert.</span></span>
        </button>
        <p class="sl-fine">Your microphone (and camera, for video) is used only during the call.</p>
      </div>

      <div class="sl-stage" hidden>
        <video class="sl-remote" data-testid="remote-video" autoplay playsinline aria-label="The expert's video"></video>
        <audio class="sl-extra" data-testid="supervisor-audio" autoplay></audio>
        <div class="sl-placeholder">
          <span class="sl-spinner" aria-hidden="true"></span>
          <p class="sl-placeholder-text"></p>
          <p class="sl-queue" data-testid="queue-position" aria-live="polite" aria-atomic="true"></p>
          <p class="sl-waited" aria-hidden="true"></p>
        </div>
        <span class="sl-voice-badge" hidden>Voice only · your camera is off</span>
        <video class="sl-self" data-testid="local-video" autoplay playsinline muted aria-label="Your camera"></video>
      </div>

      <div class="sl-consent" role="group" aria-labelledby="sl-consent-q" hidden>
        <p id="sl-consent-q" tabindex="-1">This call may be recorded for quality. Allow?</p>
        <div class="sl-row">
          <button type="button" class="sl-btn sl-primary" data-testid="consent-yes">Yes, allow</button>
          <button type="button" class="sl-btn" data-testid="consent-no">No, don't record</button>
        </div>
      </div>

      <p class="sl-notice" aria-live="polite"></p>
      <p class="sl-error" data-testid="widget-error" role="alert"></p>

      <div class="sl-controls" hidden>
        <button type="button" class="sl-btn sl-mute" data-testid="mute" aria-pressed="false">Mute</button>
        <button type="button" class="sl-btn sl-camera" data-testid="camera-off" aria-pressed="false">Camera off</button>
        <button type="button" class="sl-btn sl-switch" data-testid="switch-camera" hidden>Switch camera</button>
        <button type="button" class="sl-btn sl-danger sl-hangup" data-testid="hang-up">Hang up</button>
      </div>
      <div class="sl-wait-actions" hidden>
        <button type="button" class="sl-btn sl-link sl-callback-instead" data-testid="callback-instead">Call me back instead</button>
        <button type="button" class="sl-btn sl-danger sl-cancel" data-testid="cancel-call">Cancel call</button>
      </div>

      <section class="sl-chat" aria-label="Chat with the expert" hidden>
        <ol class="sl-log" data-testid="chat-log" role="log" aria-live="polite" aria-label="Messages and photos"></ol>
        <form class="sl-chat-form">
          <label class="sl-attach" title="Send a photo">
            ${ICON_CLIP}<span class="sl-vh">Send a photo (JPEG or PNG, up to 5 MB)</span>
            <input type="file" class="sl-file" data-testid="photo-input" accept="image/jpeg,image/png">
          </label>
          <label class="sl-vh" for="sl-chat-input">Message</label>
          <input id="sl-chat-input" class="sl-input" data-testid="chat-input" type="text" maxlength="2000" autocomplete="off" placeholder="Write a message…">
          <button type="submit" class="sl-btn sl-primary" data-testid="chat-send">Send</button>
        </form>
      </section>

      <form class="sl-form sl-callback" aria-labelledby="sl-cb-title" hidden novalidate>
        <h3 id="sl-cb-title" tabindex="-1">We'll call you back</h3>
        <p class="sl-hint">Leave your details and an expert will contact you as soon as possible.</p>
        <label for="sl-cb-name">Your name</label>
        <input id="sl-cb-name" class="sl-input" data-testid="callback-name" autocomplete="name" maxlength="120" required>
        <label for="sl-cb-contact">Phone number or e-mail</label>
        <input id="sl-cb-contact" class="sl-input" data-testid="callback-contact" autocomplete="email" maxlength="200" required>
        <label for="sl-cb-question">Your question <span class="sl-opt">(optional)</span></label>
        <textarea id="sl-cb-question" class="sl-input" data-testid="callback-question" rows="3" maxlength="2000"></textarea>
        <p class="sl-form-error" role="alert"></p>
        <div class="sl-row">
          <button type="submit" class="sl-btn sl-primary" data-testid="submit-callback">Request a callback</button>
          <button type="button" class="sl-btn sl-callback-back">Keep waiting</button>
        </div>
      </form>

      <form class="sl-form sl-rating" aria-labelledby="sl-rate-title" hidden>
        <h3 id="sl-rate-title" tabindex="-1">How was your call?</h3>
        <div class="sl-stars" role="group" aria-label="Your rating, 1 to 5 stars">
          <button type="button" class="sl-star" data-score="1" data-testid="rating-1" aria-pressed="false" aria-label="1 star: poor">★</button>
          <button type="button" class="sl-star" data-score="2" data-testid="rating-2" aria-pressed="false" aria-label="2 stars: fair">★</button>
          <button type="button" class="sl-star" data-score="3" data-testid="rating-3" aria-pressed="false" aria-label="3 stars: good">★</button>
          <button type="button" class="sl-star" data-score="4" data-testid="rating-4" aria-pressed="false" aria-label="4 stars: very good">★</button>
          <button type="button" class="sl-star" data-score="5" data-testid="rating-5" aria-pressed="false" aria-label="5 stars: excellent">★</button>
        </div>
        <p class="sl-star-words" aria-live="polite"></p>
        <label for="sl-rate-comment">Anything to add? <span class="sl-opt">(optional)</span></label>
        <textarea id="sl-rate-comment" class="sl-input" data-testid="rating-comment" rows="2" maxlength="2000"></textarea>
        <p class="sl-form-error" role="alert"></p>
        <button type="submit" class="sl-btn sl-primary" data-testid="submit-rating">Send rating</button>
      </form>

      <div class="sl-thanks" data-testid="thanks" role="status" hidden>
        <p class="sl-thanks-title"></p>
        <p class="sl-thanks-text"></p>
      </div>

      <div class="sl-after" hidden>
        <button type="button" class="sl-btn sl-primary sl-again" data-testid="call-again">Call again</button>
        <button type="button" class="sl-btn sl-close">Close</button>
      </div>
    </div>
  </section>
</div>`;

const LIVE = new Set(["starting", "waiting", "ringing", "connecting", "connected", "reconnecting"]);
const QUEUED = new Set(["starting", "waiting", "ringing"]);

const STATE_WORDS = {
  idle: "Not in a call",
  choose: "Choose how to talk",
  starting: "Starting your call…",
  waiting: "Waiting for an expert",
  ringing: "An expert is being connected…",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  unavailable: "No expert available",
  "callback-sent": "Callback requested",
  ended: "Call ended",
  error: "The call could not go on",
};

class ShopperWidget {
  constructor(config) {
    this.config = config;
    this.session = null;
    this.state = "idle";
    this.words = "";
    this.history = ["idle"];
    this.mode = "video";
    this.answered = false; // an agent accepted this call: chat, then a rating
    this.callbackOpen = false;
    this.rated = false;
    this.score = 0;
    this.queue = null; // last queue-position
    this.queueAt = 0;
    this.recording = "off";
    this.blobUrls = [];
    this.agentName = null;
    this.waitTicker = null;

    recordVisit(config.tag);

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
      rec: $(".sl-rec"),
      x: $(".sl-x"),
      superNotice: $(".sl-super"),
      choose: $(".sl-choose"),
      modeVideo: $('[data-testid="mode-video"]'),
      modeVoice: $('[data-testid="mode-voice"]'),
      stage: $(".sl-stage"),
      remote: $(".sl-remote"),
      extra: $(".sl-extra"),
      local: $(".sl-self"),
      voiceBadge: $(".sl-voice-badge"),
      placeholder: $(".sl-placeholder"),
      placeholderText: $(".sl-placeholder-text"),
      queue: $(".sl-queue"),
      waited: $(".sl-waited"),
      consent: $(".sl-consent"),
      consentQ: $("#sl-consent-q"),
      consentYes: $('[data-testid="consent-yes"]'),
      consentNo: $('[data-testid="consent-no"]'),
      notice: $(".sl-notice"),
      error: $(".sl-error"),
      controls: $(".sl-controls"),
      mute: $(".sl-mute"),
      camera: $(".sl-camera"),
      switchCam: $(".sl-switch"),
      hangup: $(".sl-hangup"),
      waitActions: $(".sl-wait-actions"),
      callbackInstead: $(".sl-callback-instead"),
      cancel: $(".sl-cancel"),
      chat: $(".sl-chat"),
      log: $(".sl-log"),
      chatForm: $(".sl-chat-form"),
      chatInput: $(".sl-chat-form .sl-input"),
      chatSend: $('[data-testid="chat-send"]'),
      file: $(".sl-file"),
      cbForm: $(".sl-callback"),
      cbTitle: $("#sl-cb-title"),
      cbHint: $(".sl-callback .sl-hint"),
      cbName: $("#sl-cb-name"),
      cbContact: $("#sl-cb-contact"),
      cbQuestion: $("#sl-cb-question"),
      cbError: $(".sl-callback .sl-form-error"),
      cbSubmit: $('[data-testid="submit-callback"]'),
      cbBack: $(".sl-callback-back"),
      rateForm: $(".sl-rating"),
      rateTitle: $("#sl-rate-title"),
      stars: [...root.querySelectorAll(".sl-star")],
      starWords: $(".sl-star-words"),
      rateComment: $("#sl-rate-comment"),
      rateError: $(".sl-rating .sl-form-error"),
      rateSubmit: $('[data-testid="submit-rating"]'),
      thanks: $(".sl-thanks"),
      thanksTitle: $(".sl-thanks-title"),
      thanksText: $(".sl-thanks-text"),
      after: $(".sl-after"),
      again: $(".sl-again"),
      close: $(".sl-close"),
    };
    if (!mount) this.el.rootDiv.classList.add("sl-floating");
    this.el.callLabel.textContent = config.label;

    const el = this.el;
    el.call.addEventListener("click", () => this.openChooser());
    el.modeVideo.addEventListener("click", () => this.startCall("video"));
    el.modeVoice.addEventListener("click", () => this.startCall("audio"));
    el.again.addEventListener("click", () => this.openChooser());
    el.close.addEventListener("click", () => this.closePanel());
    el.x.addEventListener("click", () => this.closePanel());
    el.hangup.addEventListener("click", () => this.hangUp());
    el.cancel.addEventListener("click", () => this.hangUp());
    el.mute.addEventListener("click", () => this.toggleTrack("audio", el.mute, "Mute", "Unmute"));
    el.camera.addEventListener("click", () => this.toggleTrack("video", el.camera, "Camera off", "Camera on"));
    el.switchCam.addEventListener("click", () => this.switchCamera());
    el.callbackInstead.addEventListener("click", () => {
      this.callbackOpen = true;
      this.render();
      el.cbName.focus();
    });
    el.cbBack.addEventListener("click", () => {
      this.callbackOpen = false;
      this.render();
      el.callbackInstead.focus();
    });
    el.cbForm.addEventListener("input", () => { el.cbError.textContent = ""; });
    el.rateForm.addEventListener("input", () => { el.rateError.textContent = ""; });
    el.cbForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submitCallback();
    });
    el.chatForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.sendChat();
    });
    el.file.addEventListener("change", () => {
      const file = el.file.files && el.file.files[0];
      el.file.value = "";
      if (file) this.sendPhoto(file);
    });
    el.consentYes.addEventListener("click", () => this.answerConsent(true));
    el.consentNo.addEventListener("click", () => this.answerConsent(false));
    for (const star of el.stars) {
      star.addEventListener("click", () => this.setScore(Number(star.dataset.score)));
    }
    el.rateForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submitRating();
    });
    el.panel.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !LIVE.has(this.state)) this.closePanel();
    });
    window.addEventListener("pagehide", () => this.session && this.session.leave());

    this.setState("idle");
  }

  // --- flow -----------------------------------------------------------------------------

  openChooser() {
    if (this.session && LIVE.has(this.state)) {
      this.openPanel();
      return;
    }
    if (this.session) {
      // A finished call may still hold its socket (an unavailable call waits for a callback request).
      this.session.leave();
      this.session = null;
    }
    this.resetCall();
    this.openPanel();
    this.el.title.textContent = "Talk to an expert";
    this.setState("choose");
    queueMicrotask(() => this.el.modeVideo.focus());
  }

  resetCall() {
    this.answered = false;
    this.callbackOpen = false;
    this.rated = false;
    this.queue = null;
    this.recording = "off";
    this.agentName = null;
    this.setScore(0);
    this.el.rateComment.value = "";
    this.el.rateError.textContent = "";
    this.el.cbError.textContent = "";
    this.el.cbSubmit.disabled = false;
    this.el.rateSubmit.disabled = false;
    this.el.error.textContent = "";
    this.el.notice.textContent = "";
    this.el.superNotice.hidden = true;
    this.el.consent.hidden = true;
    this.el.log.replaceChildren();
    for (const url of this.blobUrls) URL.revokeObjectURL(url);
    this.blobUrls = [];
    this.resetToggles();
  }

  async getToken() {
    let res;
    const customer = attrOf(this.config.tag, "customer-id");
    try {
      res = await fetch(this.config.tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(customer ? { role: "shopper", customer_id: customer } : { role: "shopper" }),
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

  async startCall(mode) {
    if (this.session && LIVE.has(this.state)) return;
    this.mode = mode === "audio" ? "audio" : "video";
    this.resetCall();
    this.el.title.textContent = this.mode === "audio" ? "Voice call with an expert" : "Video call with an expert";
    const session = new CallSession({
      role: "shopper",
      getToken: () => this.getToken(),
      wsUrl: this.config.wsUrl,
      localVideo: this.mode === "video" ? this.el.local : null,
      remoteVideo: this.el.remote,
      extraAudio: this.el.extra,
      media: this.mode,
      otherName: "the expert",
      debug: this.config.debug,
      context: pageContext(this.config.tag, this.mode),
    });
    this.session = session;
    session.on("state", (s) => {
      if (this.session !== session) return;
      if (s.state === "connecting" || s.state === "connected") {
        this.answered = true;
        this.callbackOpen = false;
      }
      if (s.state === "ended" && s.reason === "callback") return; // `callback-accepted` shows thanks
      let words = s.words;
      if (s.state === "ended" && !this.answered && s.by === "shopper" && s.reason === "hang_up") words = "You cancelled the call.";
      this.setState(s.state, words);
    });
    session.on("participant-state", (m) => {
      if (this.session !== session) return;
      this.el.notice.textContent = m.state === "connected" ? "" : m.words;
    });
    session.on("error", (e) => {
      if (this.session !== session || !e.words) return;
      if (e.code === "unknown_type") return; // a feature this server does not have yet
      this.el.error.textContent = e.words;
    });
    session.on("local-stream", () => {
      if (this.session === session) this.updateCameraChoice();
    });
    session.on("message", (m) => {
      if (this.session === session) this.onMessage(m);
    });
    // The camera (or, voice only, the microphone) starts while the call is being set up.
    session.acquireMedia().catch((err) => {
      if (this.session === session) session._fail(err);
    });
    try {
      await session.start();
    } catch (err) {
      if (this.session === session && session.state !== "error") session._fail(err);
    }
  }

  onMessage(m) {
    switch (m.type) {
      case "agent-joined":
        if (typeof m.name === "string" && m.name) {
          this.agentName = m.name;
          this.el.title.textContent = `${this.mode === "audio" ? "Voice call" : "Video call"} with ${m.name}`;
        }
        break;
      case "queue-position":
        this.queue = { position: m.position, estimate: m.estimated_wait_s, waited: m.waited_s };
        this.queueAt = Date.now();
        this.renderQueue();
        break;
      case "chat":
        this.addChat(m);
        break;
      case "photo":
        this.addPhoto(m);
        break;
      case "recording":
        this.recording = ["on", "paused"].includes(m.state) ? m.state : "off";
        this.renderRecording();
        break;
      case "recording-consent-request":
        this.el.consent.hidden = false;
        this.el.consentYes.disabled = this.el.consentNo.disabled = false;
        this.el.consentYes.focus();
        break;
      case "supervisor":
        if (m.mode === "barge") {
          this.el.superNotice.textContent = "A supervisor joined the call. They can hear you and the expert.";
          this.el.superNotice.hidden = false;
        } else if (m.mode === "left" || m.mode === "silent") {
          this.el.superNotice.hidden = true;
          this.el.superNotice.textContent = "";
        }
        break;
      default:
        break;
    }
  }

  hangUp() {
    const s = this.session;
    if (!s) return;
    if (s.state === "starting" || !s.callId) {
      s.leave();
      this.setState("ended", "You cancelled the call.");
      return;
    }
    this.el.hangup.disabled = true;
    this.el.cancel.disabled = true;
    this.el.hangup.textContent = "Ending…";
    s.hangup();
  }

  // --- callback requests ---------------------------------------------------------------

  async submitCallback() {
    const el = this.el;
    const name = el.cbName.value.trim();
    const contact = el.cbContact.value.trim();
    el.cbError.textContent = "";
    if (!name) {
      el.cbError.textContent = "Please tell us your name.";
      el.cbName.focus();
      return;
    }
    if (!contact || !(/@/.test(contact) || /\d{5,}/.test(contact.replace(/[\s()+.-]/g, "")))) {
      el.cbError.textContent = "Please give a phone number or an e-mail address we can reach you on.";
      el.cbContact.focus();
      return;
    }
    const s = this.session;
    if (!s) return;
    el.cbSubmit.disabled = true;
    el.cbSubmit.textContent = "Sending…";
    try {
      await s.requestCallback({ name, contact, question: el.cbQuestion.value.trim() });
      this.callbackOpen = false;
      this.el.thanksTitle.textContent = "Thank you — we'll call you back.";
      this.el.thanksText.textContent = `An expert will contact you at ${contact} as soon as possible.`;
      this.setState("callback-sent", "Callback requested");
      queueMicrotask(() => this.el.thanks.focus());
    } catch (err) {
      el.cbError.textContent = err.words || "The request could not be sent. Please try again.";
      el.cbSubmit.disabled = false;
    } finally {
      el.cbSubmit.textContent = "Request a callback";
    }
  }

  // --- chat and photos -----------------------------------------------------------------

  sendChat() {
    const text = this.el.chatInput.value.trim();
    if (!text || !this.session) return;
    try {
      this.session.sendMessage("chat", { call_id: this.session.callId, text: text.slice(0, 2000) });
      this.el.chatInput.value = "";
    } catch (err) {
      this.el.error.textContent = err.words || "The message could not be sent.";
    }
  }

  whoSaid(m) {
    if (m.role === "shopper") return "You";
    if (m.role === "agent") return m.name || this.agentName || "Expert";
    if (m.role === "supervisor") return `${m.name || "Supervisor"} (supervisor)`;
    return m.name || m.role || "";
  }

  addLogItem(m, body) {
    const li = document.createElement("li");
    li.className = `sl-msg ${m.role === "shopper" ? "sl-mine" : "sl-theirs"}`;
    const who = document.createElement("span");
    who.className = "sl-who";
    who.textContent = `${this.whoSaid(m)} · ${timeOfDay(m.at)}`;
    li.append(who, body);
    this.el.log.appendChild(li);
    this.el.log.scrollTop = this.el.log.scrollHeight;
    return li;
  }

  addChat(m) {
    const p = document.createElement("p");
    p.className = "sl-text";
    p.textContent = m.text;
    this.addLogItem(m, p);
  }

  async addPhoto(m) {
    const fig = document.createElement("figure");
    fig.className = "sl-photo";
    const img = document.createElement("img");
    img.alt = m.role === "shopper" ? "Your photo" : `Photo from ${this.whoSaid(m)}`;
    if (m.width && m.height) {
      img.width = m.width;
      img.height = m.height;
    }
    img.dataset.testid = "chat-photo";
    const cap = document.createElement("figcaption");
    cap.textContent = m.kind === "snapshot" ? "Snapshot" : m.role === "shopper" ? "Photo sent" : "Photo";
    fig.append(img, cap);
    this.addLogItem(m, fig);
    try {
      const url = await this.fetchPhoto(m.url);
      img.src = url;
      img.addEventListener("load", () => { this.el.log.scrollTop = this.el.log.scrollHeight; }, { once: true });
    } catch (err) {
      cap.textContent = err.words || "The photo could not be shown.";
    }
  }

  async fetchPhoto(path) {
    const blobUrl = await photoBlobUrl(path, this.session.token, this.config.server);
    this.blobUrls.push(blobUrl);
    return blobUrl;
  }

  async sendPhoto(file) {
    const el = this.el;
    const s = this.session;
    el.error.textContent = "";
    if (!s || !s.callId) return;
    el.notice.textContent = "Sending your photo…";
    try {
      await uploadPhoto(s.callId, file, s.token, this.config.server);
      // everybody, us included, gets `photo`: it shows in the chat then
    } catch (err) {
      el.error.textContent = err.words || "The photo could not be sent. Please try again.";
    } finally {
      el.notice.textContent = "";
    }
  }

  // --- recording ----------------------------------------------------------------------

  answerConsent(granted) {
    const s = this.session;
    this.el.consentYes.disabled = this.el.consentNo.disabled = true;
    try {
      s.sendMessage("recording-consent", { call_id: s.callId, granted });
      this.el.consent.hidden = true;
      this.el.notice.textContent = granted ? "Thank you. The call may be recorded." : "This call will not be recorded.";
    } catch (err) {
      this.el.consentYes.disabled = this.el.consentNo.disabled = false;
      this.el.error.textContent = err.words || "Your answer could not be sent.";
    }
  }

  renderRecording() {
    const rec = this.el.rec;
    const on = this.recording === "on" && LIVE.has(this.state);
    const paused = this.recording === "paused" && LIVE.has(this.state);
    rec.hidden = !(on || paused);
    rec.dataset.state = on ? "on" : paused ? "paused" : "off";
    rec.textContent = on ? "● Recording" : paused ? "Recording paused" : "";
  }

  // --- rating -------------------------------------------------------------------------

  setScore(score) {
    this.score = score;
    if (score) this.el.rateError.textContent = "";
    const words = ["", "Poor", "Fair", "Good", "Very good", "Excellent"];
    for (const star of this.el.stars) {
      const n = Number(star.dataset.score);
      star.setAttribute("aria-pressed", String(n === score));
      star.classList.toggle("sl-lit", n <= score);
    }
    this.el.starWords.textContent = score ? `${score} of 5 — ${words[score]}` : "";
  }

  async submitRating() {
    const el = this.el;
    el.rateError.textContent = "";
    if (!this.score) {
      el.rateError.textContent = "Please choose 1 to 5 stars first.";
      el.stars[4].focus();
      return;
    }
    const s = this.session;
    if (!s || !s.callId || !s.token) return;
    el.rateSubmit.disabled = true;
    let res;
    try {
      res = await fetch(new URL(`/api/calls/${encodeURIComponent(s.callId)}/rating`, this.config.server).href, {
        method: "POST",
        headers: { Authorization: `Bearer ${s.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ score: this.score, comment: el.rateComment.value.trim() }),
      });
    } catch (_) {
      el.rateError.textContent = "Your rating could not be sent (network problem). Please try again.";
      el.rateSubmit.disabled = false;
      return;
    }
    if (res.status === 201 || res.status === 409) {
      // 409: already rated (another tab) — either way, we are done.
      this.rated = true;
      el.thanksTitle.textContent = "Thank you for your feedback!";
      el.thanksText.textContent = "It helps us give you better advice next time.";
      this.render();
      queueMicrotask(() => el.thanks.focus());
      return;
    }
    let message = null;
    try {
      const body = await res.json();
      message = body.error && describeError(body.error.code, body.error.message);
    } catch (_) { /* not JSON */ }
    el.rateError.textContent = message || "Your rating could not be sent. Please try again.";
    el.rateSubmit.disabled = false;
  }

  // --- media controls ----------------------------------------------------------------

  toggleTrack(kind, button, onLabel, offLabel) {
    const off = toggleTrack(this.session && this.session.localStream, kind, button, onLabel, offLabel);
    if (off !== null && kind === "video") this.el.local.classList.toggle("sl-off", off);
  }

  resetToggles() {
    this.el.mute.setAttribute("aria-pressed", "false");
    this.el.mute.textContent = "Mute";
    this.el.camera.setAttribute("aria-pressed", "false");
    this.el.camera.textContent = "Camera off";
    this.el.local.classList.remove("sl-off", "sl-back");
  }

  /** Shows "Switch camera" only when there is more than one camera. */
  async updateCameraChoice() {
    this.el.switchCam.hidden = true;
    if (this.mode !== "video" || !navigator.mediaDevices?.enumerateDevices) return;
    try {
      const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
      this.cameras = cams.length;
      this.render();
    } catch (_) {
      this.cameras = 1;
    }
  }

  async switchCamera() {
    const s = this.session;
    const current = s && s.localStream && s.localStream.getVideoTracks()[0];
    if (!current) return;
    const btn = this.el.switchCam;
    btn.disabled = true;
    const settings = current.getSettings ? current.getSettings() : {};
    const next = settings.facingMode === "environment" ? "user" : "environment";
    const base = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
    const open = async (constraints) => (await navigator.mediaDevices.getUserMedia({ video: { ...base, ...constraints } })).getVideoTracks()[0];
    try {
      let track = null;
      try {
        track = await open({ facingMode: { exact: next } });
      } catch (_) {
        // No camera faces that way (a laptop with two webcams): take the next camera.
        const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
        const at = cams.findIndex((c) => c.deviceId === settings.deviceId);
        const other = cams[(at + 1) % cams.length];
        if (!other || other.deviceId === settings.deviceId) throw Object.assign(new Error("one camera"), { words: "There is no other camera to switch to." });
        try {
          track = await open({ deviceId: { exact: other.deviceId } });
        } catch (err) {
          if (err && err.name === "NotReadableError") {
            current.stop(); // some phones open one camera at a time
            track = await open({ deviceId: { exact: other.deviceId } });
          } else {
            throw err;
          }
        }
      }
      await s.replaceVideoTrack(track);
      const facing = track.getSettings ? track.getSettings().facingMode : null;
      this.el.local.classList.toggle("sl-back", facing === "environment");
      this.el.notice.textContent = facing === "environment" ? "Showing your back camera." : "Switched camera.";
    } catch (err) {
      this.el.error.textContent = err.words || "Could not switch the camera.";
    } finally {
      btn.disabled = false;
    }
  }

  // --- panel ------------------------------------------------------------------------

  openPanel() {
    this.el.panel.hidden = false;
    this.el.call.hidden = this.el.rootDiv.classList.contains("sl-floating");
    this.el.call.setAttribute("aria-expanded", "true");
    this.el.title.focus();
  }

  closePanel() {
    if (this.session && LIVE.has(this.state)) return;
    if (this.session) this.session.leave();
    this.session = null;
    this.el.panel.hidden = true;
    this.el.call.hidden = false;
    this.el.call.setAttribute("aria-expanded", "false");
    this.setState("idle");
    this.el.call.focus();
  }

  setState(state, words) {
    if (state !== this.state) this.history.push(state);
    const was = this.state;
    this.state = state;
    this.words = words || STATE_WORDS[state] || state;
    this.render();
    const el = this.el;
    if (state === "connected") el.error.textContent = ""; // earlier hiccups are over
    if (state === "error") el.error.textContent = words || "Something went wrong.";
    if (state === "unavailable" && was !== "unavailable") queueMicrotask(() => el.cbTitle.focus());
    if (state === "ended" && was !== "ended") {
      el.notice.textContent = "";
      queueMicrotask(() => (this.answered && !this.rated ? el.rateTitle : el.again).focus());
    }
    if (state === "error") queueMicrotask(() => el.again.focus());
    if (!LIVE.has(state)) {
      el.superNotice.hidden = true;
      el.consent.hidden = true;
    }
    clearInterval(this.waitTicker);
    if (state === "waiting") this.waitTicker = setInterval(() => this.renderWaited(), 1000);
  }

  renderQueue() {
    const q = this.queue;
    const el = this.el;
    if (!q || this.state !== "waiting") {
      el.queue.textContent = "";
      el.waited.textContent = "";
      return;
    }
    const where = q.position <= 1 ? "You're next in line." : `You are number ${q.position} in line.`;
    const estimate = minutesWords(q.estimate);
    el.queue.textContent = estimate ? `${where} Estimated wait: ${estimate}.` : `${where} We can't estimate the wait yet.`;
    this.renderWaited();
  }

  renderWaited() {
    const q = this.queue;
    if (!q || this.state !== "waiting") return;
    const waited = (q.waited || 0) + (Date.now() - this.queueAt) / 1000;
    this.el.waited.textContent = `Waiting for ${clock(waited)}`;
  }

  render() {
    const el = this.el;
    const state = this.state;
    el.rootDiv.dataset.state = state;
    el.state.dataset.state = state;
    el.state.textContent = state === "error" ? STATE_WORDS.error : this.words;

    const live = LIVE.has(state);
    const queued = QUEUED.has(state) && !this.answered;
    const talking = live && this.answered;
    const voice = this.mode === "audio";
    el.call.disabled = live;
    el.x.hidden = live;

    el.choose.hidden = state !== "choose";
    el.stage.hidden = !live;
    el.stage.classList.toggle("sl-voice", voice);
    el.local.hidden = voice || !live;
    el.voiceBadge.hidden = !(voice && talking);

    const placeholder = {
      starting: voice ? "Starting your microphone…" : "Starting your camera…",
      waiting: this.answered ? "Transferring you to a colleague…" : "Waiting for an expert…",
      ringing: "An expert is being connected…",
      connecting: voice ? "Connecting…" : "Connecting video…",
      reconnecting: "Reconnecting…",
    }[state];
    el.placeholder.hidden = !placeholder;
    el.placeholderText.textContent = placeholder || "";
    el.placeholder.classList.toggle("sl-busy", !!placeholder);
    this.renderQueue();

    el.controls.hidden = !talking;
    el.hangup.disabled = false;
    el.hangup.textContent = "Hang up";
    el.camera.hidden = voice;
    el.switchCam.hidden = voice || !(this.cameras > 1);

    el.waitActions.hidden = !queued;
    el.cancel.disabled = false;
    el.callbackInstead.hidden = this.callbackOpen || state === "starting";

    el.chat.hidden = !talking;
    el.cbForm.hidden = !(state === "unavailable" || (queued && this.callbackOpen));
    el.cbBack.hidden = state === "unavailable";
    el.cbTitle.textContent = state === "unavailable" ? "Leave a callback request" : "We'll call you back";
    el.cbHint.textContent = state === "unavailable"
      ? "Leave your details and an expert will call you back as soon as possible."
      : "Leave your details and an expert will call you back as soon as possible. This gives up your place in the queue.";

    el.rateForm.hidden = !(state === "ended" && this.answered && !this.rated);
    el.thanks.hidden = !(state === "callback-sent" || (state === "ended" && this.rated));
    el.thanks.tabIndex = -1;
    el.after.hidden = live || state === "idle" || state === "choose";
    el.again.textContent = state === "error" ? "Try again" : "Call again";
    this.renderRecording();
  }
}

const widget = new ShopperWidget(readConfig(findScriptTag()));

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (widget.session ? widget.session.peer() : null),
  state: () => widget.state,
  history: () => widget.history.slice(),
  callId: () => (widget.session ? widget.session.callId : null),
  widget,
});
