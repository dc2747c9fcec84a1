// The shopper's freeze-frame ("this button?"): a full-resolution still of the EXPERT's video
// from the SFU (`snapshot{target: "agent"}` → `photo{kind: snapshot, target: "agent"}`, which
// only the shopper, and monitoring supervisors, get), drawn on with the same tools and marks
// as the agent's (components/annotation-tools.js, components/annotation-layer.js), then sent
// into the chat as a photo both keep. The server lets a shopper freeze only the agent's video
// of their own call.

import { AnnotationCanvas, AnnotationLayer, drawMarks } from "../components/annotation-layer.js";
import { AnnotationTools } from "../components/annotation-tools.js";
import { fetchPhoto } from "../components/photo.js";
import { SHOPPER_COLOR } from "./annotation-overlay.js";

const newId = () => `an_${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;

export class ShopperFreeze {
  /** `el`: {button, panel, img, marks, surface, toolbar, send, cancel, hint};
   *  `send(type, fields)` a protocol message (returns its id); `token()`, `base` the server;
   *  `upload(blob)` sends a photo into the call; `onError(words)` shows a refusal. */
  constructor({ el, send, token, base, upload, onError }) {
    this.el = el;
    this.sendMessage = send;
    this.token = token;
    this.base = base;
    this.upload = upload;
    this.onErrorWords = onError;
    this.callId = null;
    this.live = false;
    this.freeze = "off"; // off | waiting (still asked) | on (drawing on it) | sending
    this.ref = null;
    this.url = null;
    this.draft = null;
    this.layer = new AnnotationLayer({ target: "agent" });
    const withDraft = {
      visible: () => [...this.layer.visible(), ...(this.draft ? [{ mark: this.draft, opacity: 1 }] : [])],
      get active() { return true; },
    };
    this.view = new AnnotationCanvas({ canvas: el.marks, layer: withDraft, source: () => el.img });
    this.tools = new AnnotationTools({
      toolbar: el.toolbar,
      surface: el.surface,
      testids: "still-",
      onMark: (mark) => this.mark(mark),
      onDraft: (mark) => { this.draft = mark; this.view.request(); },
      onUndo: () => { this.layer.add({ shape: "undo", target: "agent", by: "shopper" }); this.view.request(); },
      onClear: () => { this.layer.clear(); this.view.request(); },
    });
    this.tools.color = SHOPPER_COLOR;
    el.button.addEventListener("click", () => this.start());
    el.send.addEventListener("click", () => this.sendStill());
    el.cancel.addEventListener("click", () => this.stop());
    el.panel.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.freeze === "on") {
        ev.stopPropagation(); // back to the live video, the dialog stays open
        this.stop();
      }
    });
    this.render();
  }

  /** The call's state: freezing is possible in a connected video call. */
  callState(state, callId, voice) {
    if (callId !== this.callId) {
      this.stop();
      this.callId = callId;
    }
    this.live = state === "connected" && !voice;
    if (!this.live && this.freeze !== "off") this.stop();
    this.render();
  }

  start() {
    if (!this.live || this.freeze !== "off") return;
    this.freeze = "waiting";
    this.render();
    try {
      this.ref = this.sendMessage("snapshot", { call_id: this.callId, target: "agent" });
    } catch (err) {
      this.freeze = "off";
      this.render();
      this.onErrorWords(err.words || "Could not freeze the expert's picture.");
    }
  }

  /** Whether a `photo` is a still of the expert's video that this shopper asked for: a working
   *  copy to draw on, not a chat photo (what is sent from it is). */
  takes(m) {
    return m.kind === "snapshot" && m.target === "agent" && m.role === "shopper";
  }

  /** A `photo`: the still asked for becomes the picture to draw on. */
  async onPhoto(m) {
    if (!this.takes(m) || this.freeze !== "waiting" || m.call_id !== this.callId) return;
    try {
      const url = await fetchPhoto(m.url, this.token(), this.base);
      if (this.freeze !== "waiting") {
        URL.revokeObjectURL(url);
        return;
      }
      this.url = url;
      this.layer.clear();
      this.el.img.src = url;
      await this.el.img.decode().catch(() => {});
      this.freeze = "on";
      this.render();
      this.tools.over(this.el.img);
      this.view.watch(this.el.img);
      this.el.send.focus();
    } catch (err) {
      this.freeze = "off";
      this.render();
      this.onErrorWords(err.words || "The still could not be shown.");
    }
  }

  /** A refused snapshot: back to live, the words shown by the widget. */
  onError(e) {
    if (this.freeze === "waiting" && e.ref && e.ref === this.ref) {
      this.freeze = "off";
      this.render();
    }
  }

  mark(mark) {
    this.layer.add({ ...mark, target: "agent", by: "shopper", annotation_id: newId(), pinned: true });
    this.view.request();
  }

  /** The still with its marks, at its full resolution, as a JPEG. */
  still() {
    const img = this.el.img;
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    drawMarks(ctx, { x: 0, y: 0, w: canvas.width, h: canvas.height }, this.layer.visible());
    return new Promise((resolve, reject) => canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("no JPEG"))), "image/jpeg", 0.9));
  }

  async sendStill() {
    if (this.freeze !== "on") return;
    this.freeze = "sending";
    this.render();
    try {
      await this.upload(await this.still()); // everybody, us included, gets `photo`
      this.stop();
      this.el.button.focus();
    } catch (err) {
      this.freeze = "on";
      this.render();
      this.onErrorWords(err.words || "The still could not be sent.");
    }
  }

  stop() {
    this.freeze = "off";
    this.layer.clear();
    this.draft = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.el.img.removeAttribute("src");
    this.view.stop();
    this.render();
  }

  render() {
    const frozen = this.freeze === "on" || this.freeze === "sending";
    const el = this.el;
    el.button.hidden = !this.live;
    el.button.disabled = this.freeze !== "off";
    el.button.textContent = this.freeze === "waiting" ? "Freezing…" : "Freeze expert's video";
    el.panel.hidden = !frozen;
    el.send.disabled = this.freeze === "sending";
    el.send.textContent = this.freeze === "sending" ? "Sending…" : "Send to chat";
    this.tools.setEnabled(frozen && this.freeze !== "sending", true);
    this.view.request();
  }
}
