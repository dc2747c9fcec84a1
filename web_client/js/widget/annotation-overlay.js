// The shopper's side of marks on live video: the agent's marks drawn on a canvas laid over the
// shopper's own camera view (the self view), mirrored as the self view is (the front camera is
// shown as a mirror; the back camera is not), so that a mark lands on the same object. Marks
// fade unless pinned; the shopper can clear them (the agent sees that too).

import { AnnotationCanvas, AnnotationLayer } from "../components/annotation-layer.js";

export class ShopperAnnotations {
  constructor({ canvas, selfView, clearButton, send }) {
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
    this.render();
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
    this.canvas.hidden = !this.live;
    this.clearButton.hidden = !this.live;
    this.view.request();
  }
}

/** Whether an element is shown flipped left-right (the self view's CSS transform). */
function mirroredView(element) {
  const t = getComputedStyle(element).transform;
  return !!t && t !== "none" && new DOMMatrixReadOnly(t).a < 0;
}
