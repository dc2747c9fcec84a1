// The shopper's side of marks on live video: the agent's marks drawn on a canvas laid over the
// shopper's own camera view (the self view), mirrored as the self view is (the front camera is
// shown as a mirror; the back camera is not), so that a mark lands on the same object. Marks
// fade unless pinned; the shopper can clear them (the agent sees that too), and point at
// something in their own picture ("this one?"): a tap or drag on the self view sends pointer
// marks on the shopper's video, unmirrored back to the picture as sent.

import { AnnotationCanvas, AnnotationLayer, pictureRect } from "../components/annotation-layer.js";
import { PointerMoves } from "../components/annotation-tools.js";

export const SHOPPER_COLOR = "#0a84ff";
const newId = () => `an_${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;

export class ShopperAnnotations {
  constructor({ canvas, selfView, clearButton, pointButton, send }) {
    this.canvas = canvas;
    this.selfView = selfView;
    this.clearButton = clearButton;
    this.send = send; // (type, fields) => sends a protocol message
    this.callId = null;
    this.live = false;
    this.layer = new AnnotationLayer({ target: "shopper" });
    this.drawnAt = new Map(); // annotation_id -> epoch ms of its first frame (latency, tests)
    canvas.annotationDrawnAt = this.drawnAt;
    this.view = new AnnotationCanvas({
      canvas,
      layer: this.layer,
      source: () => selfView,
      // a mirrored self view is drawn mirrored: the marks' points are on the picture as sent
      mirrored: () => mirroredView(selfView),
      onDraw: (now, visible) => this.drawn(now, visible),
    });
    this.view.watch(selfView);
    selfView.addEventListener("resize", () => this.view.request());
    selfView.addEventListener("loadedmetadata", () => this.view.request());
    clearButton.addEventListener("click", () => this.clear());
    this.pointButton = pointButton;
    this.pointing = false;
    this.pressed = null; // the pointerId pointing
    this.moves = new PointerMoves((p) => this.point(p));
    pointButton.addEventListener("click", () => {
      this.pointing = !this.pointing;
      this.render();
    });
    canvas.addEventListener("pointerdown", (ev) => {
      if (!this.pointing || this.pressed !== null) return;
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      this.pressed = ev.pointerId;
      this.tap(ev);
    });
    canvas.addEventListener("pointermove", (ev) => { if (ev.pointerId === this.pressed) this.tap(ev); });
    const release = (ev) => { if (ev.pointerId === this.pressed) this.pressed = null; };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    this.render();
  }

  /** A tap on the self view: where it is on the picture as sent (the view may be a mirror). */
  tap(ev) {
    const r = pictureRect(this.selfView);
    if (!r) return;
    const box = this.canvas.getBoundingClientRect();
    const border = this.canvas.clientLeft;
    let x = (ev.clientX - box.left - border - r.x) / r.w;
    const y = (ev.clientY - box.top - this.canvas.clientTop - r.y) / r.h;
    if (mirroredView(this.selfView)) x = 1 - x;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    this.moves.move([Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000]);
  }

  point(p) {
    if (!this.live) return;
    const msg = { call_id: this.callId, target: "shopper", shape: "pointer", color: SHOPPER_COLOR,
      points: [p], annotation_id: newId() };
    this.layer.add({ ...msg, by: "shopper" }); // at once; the server's echo takes its place
    this.view.request();
    try {
      this.send("annotate", msg);
    } catch (_) { /* offline: the mark shows here only */ }
  }

  drawn(now, visible) {
    const at = performance.timeOrigin + now;
    for (const { mark } of visible) {
      if (!this.drawnAt.has(mark.annotation_id)) this.drawnAt.set(mark.annotation_id, at);
    }
    while (this.drawnAt.size > 200) this.drawnAt.delete(this.drawnAt.keys().next().value);
  }

  /** The call's state: marks are shown in a connected video call. */
  callState(state, callId, voice) {
    if (callId !== this.callId) {
      this.layer.clear();
      this.callId = callId;
    }
    this.live = state === "connected" && !voice;
    if (!this.live && state !== "reconnecting") this.layer.clear();
    this.render();
  }

  onAnnotation(m) {
    if (m.call_id !== this.callId) return;
    if (this.layer.add(m)) this.view.request();
    this.render();
  }

  clear() {
    if (!this.callId) return;
    try {
      this.send("annotate", { call_id: this.callId, target: "shopper", shape: "clear" });
    } catch (_) { /* offline: nothing to clear on the server's side either */ }
  }

  render() {
    if (!this.live) this.pointing = false;
    this.canvas.hidden = !this.live;
    this.canvas.classList.toggle("sl-pointing", this.pointing);
    this.clearButton.hidden = !this.live;
    this.pointButton.hidden = !this.live;
    this.pointButton.setAttribute("aria-pressed", String(this.pointing));
    this.pointButton.textContent = this.pointing ? "Pointing: tap your picture" : "Point";
    this.view.request();
  }
}

/** Whether an element is shown flipped left-right (the self view's CSS transform). */
function mirroredView(element) {
  const t = getComputedStyle(element).transform;
  return !!t && t !== "none" && new DOMMatrixReadOnly(t).a < 0;
}
