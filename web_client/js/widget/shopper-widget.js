// The shopper widget itself: a custom element (<silkline-call>) with a shadow root, its state
// on this object, `render()` writing the DOM from it. It composes the shopper's call (call/),
// the chat log and the video tiles (components/), and beside it the call view (full screen on a
// phone, minimised to a bar, focus kept in the dialog: call-view.js), the device choice before
// the expert answers (devices.js), the camera switch, the forms after the call and the
// conversation download.

import { ShopperCall } from "../call/shopper-call.js";
import { ChatLog } from "../components/chat-log.js";
import { setTracksEnabled } from "../components/video-tile.js";
import { uploadPhoto } from "../rest.js";
import { timeOfDay } from "../words.js";
import { ShopperAnnotations } from "./annotation-overlay.js";
import { CallView } from "./call-view.js";
import { submitCallback } from "./callback-form.js";
import { countCameras, switchCamera } from "./camera-switch.js";
import { downloadConversation } from "./conversation-download.js";
import { DeviceChoice, rememberedDevices } from "./devices.js";
import { ShopperFreeze } from "./freeze-frame.js";
import { attrOf, pageContext, recordVisit } from "./page-context.js";
import { setScore, submitRating } from "./rating.js";
import { fetchShopperToken } from "./shopper-token.js";
import {
  LIVE, STATE_WORDS, droppedWords, mayRate, renderPanel, renderQueue, renderRecording, renderWaited,
} from "./panel.js";
import { TEMPLATE, elementsOf } from "./template.js";

export class ShopperWidget {
  constructor(config) {
    this.config = config;
    this.session = null;
    this.open = false; // the panel is open (shown, or minimised to its bar: this.callView)
    this.state = "idle";
    this.words = "";
    this.history = ["idle"];
    this.mode = "video";
    this.answered = false; // an agent accepted this call: chat, then a rating
    this.endReason = null; // why the call ended: a rating is asked only after a normal end
    this.callbackOpen = false;
    this.rated = false;
    this.score = 0;
    this.queue = null; // last queue-position
    this.remoteMedia = null; // the expert's announced {audio, video} (media-state)
    this.availability = null; // before calling: {online, available, open, opens_at?} of the queue
    this.queueAt = 0;
    this.recording = "off";
    this.muted = false;
    this.cameraOff = false;
    this.backCamera = false;
    this.cameras = 1;
    // What the panel says besides the call state (render() writes it; show() changes it).
    this.view = {
      title: "Talk to an expert", error: "", notice: "", supervisorNotice: null,
      consent: null, // null | "asked" | "sending": the recording-consent question
      cbError: "", rateError: "", thanksTitle: "", thanksText: "",
    };
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
    css.href = config.cssUrl;
    root.appendChild(css);
    // Parsed as a document of its own (no innerHTML); the markup is static, never data.
    const parsed = new DOMParser().parseFromString(TEMPLATE, "text/html");
    root.appendChild(document.importNode(parsed.body.firstElementChild, true));
    this.root = root;

    this.el = elementsOf(root);
    this.floating = !mount;
    if (this.floating) this.el.rootDiv.classList.add("sl-floating");
    this.chat = new ChatLog(this.el.log, {
      prefix: "sl-",
      itemClass: (m) => `sl-msg ${m.role === "shopper" ? "sl-mine" : "sl-theirs"}`,
      whoLine: (m) => `${this.whoSaid(m)} · ${timeOfDay(m.at)}`,
      photoAlt: (m) => (m.role === "shopper" ? "Your photo" : `Photo from ${this.whoSaid(m)}`),
      photoTestId: () => "chat-photo",
      photoCaption: (m) => (m.kind === "snapshot" ? "Snapshot" : m.role === "shopper" ? "Photo sent" : "Photo"),
      photoSize: "both",
      token: () => this.session && this.session.token,
      base: config.server,
    });
    this.el.callLabel.textContent = config.label;
    this.annotations = new ShopperAnnotations({
      canvas: this.el.annotations, selfView: this.el.local, clearButton: this.el.annotationsClear,
      pointButton: this.el.annotationsPoint,
      send: (type, fields) => this.session && this.session.sendMessage(type, fields),
    });
    this.callView = new CallView(this);
    this.devices = new DeviceChoice({
      box: this.el.devices, preview: this.el.preview, cameraSelect: this.el.cameraSelect,
      microphoneSelect: this.el.microphoneSelect, cameraRow: this.el.cameraRow, level: this.el.level,
      error: this.el.devError,
    });
    this.devicesReady = false; // the preview and the device lists are up (queued call, media on)
    this.freeze = new ShopperFreeze({
      el: this.el.freeze,
      send: (type, fields) => this.session.sendMessage(type, fields),
      token: () => this.session && this.session.token,
      base: config.server,
      upload: (blob) => uploadPhoto(this.session.callId, blob, this.session.token, this.config.server),
      onError: (words) => this.show({ error: words }),
    });

    const el = this.el;
    el.call.addEventListener("click", () => this.openChooser());
    el.modeVideo.addEventListener("click", () => this.startCall("video"));
    el.modeVoice.addEventListener("click", () => this.startCall("audio"));
    el.callbackNow.addEventListener("click", () => this.startCall("audio", { callbackOnly: true }));
    el.again.addEventListener("click", () => this.openChooser());
    el.close.addEventListener("click", () => this.closePanel());
    el.x.addEventListener("click", () => this.closePanel());
    el.hangup.addEventListener("click", () => this.hangUp());
    el.cancel.addEventListener("click", () => this.hangUp());
    el.mute.addEventListener("click", () => this.toggleMute());
    el.camera.addEventListener("click", () => this.toggleCamera());
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
    el.cbForm.addEventListener("input", () => this.show({ cbError: "" }));
    el.rateForm.addEventListener("input", () => this.show({ rateError: "" }));
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
    el.downloadBtn.addEventListener("click", () => this.downloadConversation());
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
    this.availability = null;
    this.openPanel();
    this.show({ title: "Talk to an expert" });
    this.setState("choose");
    queueMicrotask(() => this.el.modeVideo.focus());
    this.checkAvailability();
  }

  /** Whether experts are on duty for this page's queue (public REST, no token); on failure the
   * chooser simply offers the call. */
  async checkAvailability() {
    const url = new URL("/api/availability", this.config.server);
    const category = attrOf(this.config.tag, "category");
    if (category) url.searchParams.set("category", category);
    try {
      const resp = await fetch(url.href, { cache: "no-store" });
      if (!resp.ok) return;
      const a = await resp.json();
      if (this.state !== "choose" || typeof a.online !== "number") return;
      this.availability = { online: a.online, available: a.available, open: !!a.open,
        opens_at: typeof a.opens_at === "string" ? a.opens_at : null };
      this.render();
      if (!this.availability.open) this.el.callbackNow.focus();
    } catch (_) {
      // offline or an older server: the call button works as before
    }
  }

  resetCall() {
    this.answered = false;
    this.callbackOpen = false;
    this.rated = false;
    this.queue = null;
    this.recording = "off";
    this.agentName = null;
    this.remoteMedia = null;
    this.endReason = null;
    this.devicesReady = false;
    this.el.downloadError.textContent = "";
    this.setScore(0);
    this.el.rateComment.value = "";
    this.el.cbSubmit.disabled = false;
    this.el.rateSubmit.disabled = false;
    this.show({ rateError: "", cbError: "", error: "", notice: "", supervisorNotice: null, consent: null });
    this.chat.clear();
    this.resetToggles();
  }

  getToken() {
    return fetchShopperToken(this.config.tokenUrl, attrOf(this.config.tag, "customer-id"),
      attrOf(this.config.tag, "customer-name"));
  }

  async startCall(mode, { callbackOnly = false } = {}) {
    if (this.session && LIVE.has(this.state)) return;
    this.mode = mode === "audio" ? "audio" : "video";
    this.resetCall();
    this.callbackOpen = callbackOnly; // nobody on duty: straight to the callback form
    this.show({ title: this.mode === "audio" ? "Voice call with an expert" : "Video call with an expert" });
    const session = new ShopperCall({
      getToken: () => this.getToken(),
      wsUrl: this.config.wsUrl,
      localVideo: this.mode === "video" ? this.el.local : null,
      remoteVideo: this.el.remote,
      extraAudio: this.el.extra,
      media: this.mode,
      otherName: "the expert",
      debug: this.config.debug,
      context: pageContext(this.config.tag, this.mode),
      callbackOnly,
      server: this.config.server.href,
      devices: rememberedDevices(),
    });
    this.session = session;
    session.on("state", (s) => {
      if (this.session !== session) return;
      if (s.state === "connecting" || s.state === "connected") {
        this.answered = true;
        this.callbackOpen = false;
      }
      if (s.state === "ended" && s.reason === "callback") return; // `callback-accepted` shows thanks
      if (s.state === "ended") this.endReason = s.reason || null;
      let words = s.words;
      if (s.state === "ended" && !this.answered && s.by === "shopper" && s.reason === "hang_up") words = "You cancelled the call.";
      if (s.state === "ended" && this.answered) words = droppedWords(s.reason) || words;
      this.setState(s.state, words);
    });
    session.on("participant-state", (m) => {
      if (this.session !== session) return;
      this.show({ notice: m.state === "connected" ? "" : m.words });
    });
    session.on("error", (e) => {
      if (this.session !== session || !e.words) return;
      if (e.code === "unknown_type") return; // a feature this server does not have yet
      this.freeze.onError(e);
      this.show({ error: e.words });
    });
    session.on("local-stream", () => {
      if (this.session !== session) return;
      this.updateCameraChoice();
      if (this.preJoin) {
        this.devices.attach(session, this.mode === "video").then(() => {
          if (this.session === session && this.preJoin) {
            this.devicesReady = true;
            this.render();
          }
        });
      }
    });
    session.on("message", (m) => {
      if (this.session === session) this.onMessage(m);
    });
    // The camera (or, voice only, the microphone) starts while the call is being set up.
    if (!callbackOnly) {
      session.acquireMedia().catch((err) => {
        if (this.session === session) session.fail(err);
      });
    }
    try {
      await session.start();
    } catch (err) {
      if (this.session === session && session.state !== "error") session.fail(err);
    }
  }

  onMessage(m) {
    switch (m.type) {
      case "agent-joined":
        if (typeof m.name === "string" && m.name) {
          this.agentName = m.name;
          this.show({ title: `${this.mode === "audio" ? "Voice call" : "Video call"} with ${m.name}` });
        }
        break;
      case "queue-position":
        this.queue = { position: m.position, estimate: m.estimated_wait_s, waited: m.waited_s,
          callbackOffered: !!m.callback_offered };
        this.queueAt = Date.now();
        this.renderQueue();
        break;
      case "media-state":
        if (m.role === "agent") {
          this.remoteMedia = { audio: m.audio, video: m.video };
          this.render();
        }
        break;
      case "chat":
        this.chat.addChat(m);
        this.callView.noteMessage();
        break;
      case "photo":
        if (this.freeze.takes(m)) this.freeze.onPhoto(m);
        else this.chat.addPhoto(m);
        this.callView.noteMessage();
        break;
      case "annotation":
        this.annotations.onAnnotation(m);
        break;
      case "recording":
        this.recording = ["on", "paused"].includes(m.state) ? m.state : "off";
        this.renderRecording();
        break;
      case "recording-consent-request":
        this.show({ consent: "asked" });
        this.el.consentYes.focus();
        break;
      case "supervisor":
        if (m.mode === "barge") {
          this.show({ supervisorNotice: "A supervisor joined the call. They can hear you and the expert." });
        } else if (m.mode === "left" || m.mode === "silent") {
          this.show({ supervisorNotice: null });
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

  // --- callback requests, rating (callback-form.js, rating.js) --------------------------

  submitCallback() {
    return submitCallback(this);
  }

  setScore(score) {
    setScore(this, score);
  }

  submitRating() {
    return submitRating(this);
  }

  // --- chat and photos -----------------------------------------------------------------

  sendChat() {
    const text = this.el.chatInput.value.trim();
    if (!text || !this.session) return;
    try {
      this.session.sendMessage("chat", { call_id: this.session.callId, text: text.slice(0, 2000) });
      this.el.chatInput.value = "";
    } catch (err) {
      this.show({ error: err.words || "The message could not be sent." });
    }
  }

  whoSaid(m) {
    if (m.role === "shopper") return "You";
    if (m.role === "agent") return m.name || this.agentName || "Expert";
    if (m.role === "supervisor") return `${m.name || "Supervisor"} (supervisor)`;
    return m.name || m.role || "";
  }

  async sendPhoto(file) {
    const el = this.el;
    const s = this.session;
    this.show({ error: "" });
    if (!s || !s.callId) return;
    this.show({ notice: "Sending your photo…" });
    try {
      await uploadPhoto(s.callId, file, s.token, this.config.server);
      // everybody, us included, gets `photo`: it shows in the chat then
    } catch (err) {
      this.show({ error: err.words || "The photo could not be sent. Please try again." });
    } finally {
      this.show({ notice: "" });
    }
  }

  // --- recording ----------------------------------------------------------------------

  answerConsent(granted) {
    const s = this.session;
    this.show({ consent: "sending" });
    try {
      s.sendMessage("recording-consent", { call_id: s.callId, granted });
      this.show({ consent: null, notice: granted ? "Thank you. The call may be recorded." : "This call will not be recorded." });
    } catch (err) {
      this.show({ consent: "asked", error: err.words || "Your answer could not be sent." });
    }
  }

  // --- media controls ----------------------------------------------------------------

  toggleMute() {
    const stream = this.session && this.session.localStream;
    if (!stream) return;
    this.muted = !this.muted;
    setTracksEnabled(stream, "audio", !this.muted);
    this.session.announceMedia({ audio: !this.muted, video: !this.cameraOff });
    this.render();
  }

  toggleCamera() {
    const stream = this.session && this.session.localStream;
    if (!stream) return;
    this.cameraOff = !this.cameraOff;
    setTracksEnabled(stream, "video", !this.cameraOff);
    this.session.announceMedia({ audio: !this.muted, video: !this.cameraOff });
    this.render();
  }

  resetToggles() {
    this.muted = false;
    this.cameraOff = false;
    this.backCamera = false;
  }

  /** Shows "Switch camera" only when there is more than one camera. */
  async updateCameraChoice() {
    if (this.mode !== "video") return;
    this.cameras = await countCameras();
    this.render();
  }

  async switchCamera() {
    const btn = this.el.switchCam;
    btn.disabled = true;
    try {
      const facing = await switchCamera(this.session);
      if (facing === undefined) return;
      this.backCamera = facing === "environment";
      this.render();
      this.show({ notice: this.backCamera ? "Showing your back camera." : "Switched camera." });
    } catch (err) {
      this.show({ error: err.words || "Could not switch the camera." });
    } finally {
      btn.disabled = false;
    }
  }

  // --- panel ------------------------------------------------------------------------

  openPanel() {
    this.open = true;
    this.callView.minimised = false;
    this.render();
    this.el.title.focus();
  }

  closePanel() {
    if (this.session && LIVE.has(this.state)) return;
    if (this.session) this.session.leave();
    this.session = null;
    this.open = false;
    this.setState("idle");
    this.el.call.focus();
  }

  /** Before the expert answers: the shopper's own preview and the device choice. */
  get preJoin() {
    return !this.answered && ["starting", "waiting", "ringing"].includes(this.state) && !this.callbackOpen;
  }

  async downloadConversation() {
    const s = this.session;
    const el = this.el;
    if (!s || !s.callId || !s.token) return;
    el.downloadError.textContent = "";
    el.downloadBtn.disabled = true;
    try {
      await downloadConversation({ server: this.config.server, callId: s.callId, token: s.token, into: this.root });
    } catch (err) {
      el.downloadError.textContent = err.words || "The conversation could not be downloaded.";
    } finally {
      el.downloadBtn.disabled = false;
    }
  }

  setState(state, words) {
    if (state !== this.state) this.history.push(state);
    const was = this.state;
    this.state = state;
    this.words = words || STATE_WORDS[state] || state;
    if (state === "connected") this.view.error = ""; // earlier hiccups are over
    if (state === "error") this.view.error = words || "Something went wrong.";
    if (state === "ended" && was !== "ended") this.view.notice = "";
    if (!LIVE.has(state)) Object.assign(this.view, { supervisorNotice: null, consent: null });
    this.callView.callState(state, was);
    if (!this.preJoin && this.devicesReady) {
      this.devicesReady = false;
      this.devices.detach();
    }
    this.render();
    this.annotations.callState(state, this.session && this.session.callId, this.mode === "audio");
    this.freeze.callState(state, this.session && this.session.callId, this.mode === "audio");
    const el = this.el;
    if (state === "unavailable" && was !== "unavailable") queueMicrotask(() => el.cbTitle.focus());
    if (state === "ended" && was !== "ended") {
      queueMicrotask(() => (mayRate(this) && !this.rated ? el.rateTitle : el.again).focus());
    }
    if (state === "error") queueMicrotask(() => el.again.focus());
    clearInterval(this.waitTicker);
    if (state === "waiting") this.waitTicker = setInterval(() => this.renderWaited(), 1000);
  }

  /** Changes what the panel says, then renders. */
  show(patch) {
    Object.assign(this.view, patch);
    this.render();
  }

  render() {
    renderPanel(this);
    this.callView.render();
  }

  renderQueue() {
    renderQueue(this);
  }

  renderWaited() {
    renderWaited(this);
  }

  renderRecording() {
    renderRecording(this);
  }
}
