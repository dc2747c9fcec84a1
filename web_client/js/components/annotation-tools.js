// The drawing tools for marks on a video: a toolbar (pointer, arrow, circle, pen, text, colour,
// undo, clear, freeze) and a drawing surface laid exactly over the picture area of a <video> or
// a still <img> (object-fit letterboxing taken into account). Pointer events, so mouse, touch
// and pen all draw. Coordinates are normalized to the picture (0..1, top-left origin, as the
// picture is sent: the surface is over a video shown unmirrored).
//
// Emits (through the callbacks): `onMark(mark)` a finished mark {shape, color, points, text?}
// (pointer moves too, coalesced to at most one per POINTER_INTERVAL_MS); `onDraft(mark|null)`
// the mark being drawn, for a preview; `onUndo()`, `onClear()`, `onFreeze()`.

import { h } from "../dom.js";
import { pictureRect } from "./annotation-layer.js";

export const TOOLS = [
  ["pointer", "Pointer", "Point at something (press and move)"],
  ["arrow", "Arrow", "Draw an arrow: press at the tail, release at the head"],
  ["circle", "Circle", "Draw a circle: press at the centre, release on the rim"],
  ["pen", "Pen", "Draw freehand"],
  ["text", "Text", "Put a label: type it, then click where it goes"],
];
export const COLORS = [
  ["#ff3b30", "Red"], ["#ffcc00", "Yellow"], ["#34c759", "Green"], ["#0a84ff", "Blue"],
];
export const POINTER_INTERVAL_MS = 50; // <= 20 pointer moves a second (the server allows 30)
const MAX_PEN_POINTS = 256;

const clamp01 = (v) => Math.min(1, Math.max(0, v));
const round4 = (v) => Math.round(v * 10000) / 10000;

/** The toolbar and the surface, as one state object; render() writes both from it. */
export class AnnotationTools {
  // `testids`: the prefix of the controls' data-testid ("annotate-" unless a page has two toolbars)
  constructor({ toolbar, surface, onMark, onDraft = () => {}, onUndo, onClear, onFreeze = null, testids = "annotate-" }) {
    this.surface = surface;
    this.onMark = onMark;
    this.onDraft = onDraft;
    this.tool = "pointer";
    this.color = COLORS[0][0];
    this.enabled = false;
    this.frozen = false; // drawing on a still, not on the live video
    this.drag = null; // {points, pointerId}
    this.pointerMoves = new PointerMoves((p) => this.emit({ shape: "pointer", points: [p] }));
    this.target = null; // the <video> or <img> the surface is laid over

    this.buttons = {};
    const toolButtons = TOOLS.map(([tool, label, title]) => {
      const b = h("button", { type: "button", class: "btn tool", testid: `${testids}${tool}`, title,
        "aria-pressed": "false", onclick: () => this.choose(tool) }, label);
      this.buttons[tool] = b;
      return b;
    });
    this.swatches = COLORS.map(([color, name]) => h("button", {
      type: "button", class: `swatch swatch-${name.toLowerCase()}`, testid: `${testids}color-${name.toLowerCase()}`,
      "aria-pressed": "false", "aria-label": `${name} marks`, title: name, dataset: { color },
      onclick: () => { this.color = color; this.render(); },
    }));
    this.textInput = h("input", { type: "text", maxlength: "80", class: "annotate-label",
      testid: `${testids}text-input`, "aria-label": "Label text", placeholder: "Label…", hidden: true });
    this.undoButton = h("button", { type: "button", class: "btn", testid: `${testids}undo`,
      title: "Take away your last mark", onclick: () => onUndo() }, "Undo");
    this.clearButton = h("button", { type: "button", class: "btn", testid: `${testids}clear`,
      title: "Take away every mark", onclick: () => onClear() }, "Clear");
    const extra = [];
    if (onFreeze) {
      this.freezeButton = h("button", { type: "button", class: "btn", testid: `${testids}freeze`,
        title: "Freeze the shopper's picture to draw on a still", onclick: () => onFreeze() }, "Freeze");
      extra.push(this.freezeButton);
    }
    toolbar.replaceChildren(
      h("span", { class: "tool-group", role: "group", "aria-label": "Drawing tool" }, ...toolButtons),
      this.textInput,
      h("span", { class: "tool-group", role: "group", "aria-label": "Colour" }, ...this.swatches),
      this.undoButton, this.clearButton, ...extra);

    // a toolbar: arrow keys move between its buttons (Tab moves in and out)
    toolbar.addEventListener("keydown", (ev) => {
      if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key) || ev.target.tagName !== "BUTTON") return;
      const buttons = [...toolbar.querySelectorAll("button")].filter((b) => !b.disabled && !b.hidden);
      const i = buttons.indexOf(ev.target);
      const next = ev.key === "Home" ? 0 : ev.key === "End" ? buttons.length - 1
        : (i + (ev.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length;
      ev.preventDefault();
      buttons[next].focus();
    });
    surface.addEventListener("pointerdown", (ev) => this.down(ev));
    surface.addEventListener("pointermove", (ev) => this.move(ev));
    surface.addEventListener("pointerup", (ev) => this.up(ev));
    surface.addEventListener("pointercancel", () => this.cancel());
    this.resize = new ResizeObserver(() => this.place());
    this.render();
  }

  choose(tool) {
    this.tool = tool;
    this.render();
    if (tool === "text") this.textInput.focus();
  }

  /** Lays the surface over `element`'s picture (a <video> or an <img>). */
  over(element) {
    if (this.target && this.target.tagName === "VIDEO") this.target.removeEventListener("resize", this._onResize);
    this.target = element;
    this._onResize = () => this.place();
    this.resize.disconnect();
    if (element) {
      this.resize.observe(element);
      element.addEventListener(element.tagName === "VIDEO" ? "resize" : "load", this._onResize);
    }
    this.place();
  }

  /** The surface's box: the picture area of the target, in the target's offset parent. */
  place() {
    const el = this.target;
    const s = this.surface.style;
    let r = null;
    if (el && el.tagName === "VIDEO") r = pictureRect(el);
    else if (el && el.naturalWidth && el.clientWidth) {
      const k = Math.min(el.clientWidth / el.naturalWidth, el.clientHeight / el.naturalHeight);
      const w = el.naturalWidth * k;
      const h2 = el.naturalHeight * k;
      r = { x: (el.clientWidth - w) / 2, y: (el.clientHeight - h2) / 2, w, h: h2 };
    }
    this.placed = !!r;
    this.render();
    if (!r) return;
    Object.assign(s, {
      left: `${el.offsetLeft + r.x}px`, top: `${el.offsetTop + r.y}px`, width: `${r.w}px`, height: `${r.h}px`,
    });
  }

  setEnabled(enabled, frozen = this.frozen) {
    this.enabled = enabled;
    this.frozen = frozen;
    if (!enabled) this.cancel();
    this.render();
  }

  render() {
    for (const [tool, b] of Object.entries(this.buttons)) {
      b.setAttribute("aria-pressed", String(tool === this.tool));
      b.disabled = !this.enabled;
    }
    for (const sw of this.swatches) {
      sw.setAttribute("aria-pressed", String(sw.dataset.color === this.color));
      sw.disabled = !this.enabled;
    }
    this.textInput.hidden = this.tool !== "text";
    this.undoButton.disabled = !this.enabled;
    this.clearButton.disabled = !this.enabled;
    if (this.freezeButton) this.freezeButton.disabled = !this.enabled || this.frozen;
    this.surface.hidden = !(this.enabled && this.placed);
    this.surface.dataset.tool = this.tool;
  }

  /** A pointer event's point, normalized to the surface (= the picture). */
  point(ev) {
    const r = this.surface.getBoundingClientRect();
    return [round4(clamp01((ev.clientX - r.left) / r.width)), round4(clamp01((ev.clientY - r.top) / r.height))];
  }

  down(ev) {
    if (!this.enabled || this.drag) return;
    ev.preventDefault();
    this.surface.setPointerCapture(ev.pointerId);
    const p = this.point(ev);
    if (this.tool === "text") {
      const text = this.textInput.value.trim();
      if (text) this.emit({ shape: "text", points: [p], text });
      return;
    }
    this.drag = { pointerId: ev.pointerId, points: [p] };
    if (this.tool === "pointer") this.pointer(p);
    else this.draft();
  }

  move(ev) {
    if (!this.drag || ev.pointerId !== this.drag.pointerId) return;
    const p = this.point(ev);
    if (this.tool === "pointer") {
      this.pointer(p);
      return;
    }
    const pts = this.drag.points;
    if (this.tool === "pen") {
      const [lx, ly] = pts[pts.length - 1];
      if (Math.hypot(p[0] - lx, p[1] - ly) > 0.004 && pts.length < MAX_PEN_POINTS) pts.push(p);
    } else {
      pts[1] = p;
    }
    this.draft();
  }

  up(ev) {
    if (!this.drag || ev.pointerId !== this.drag.pointerId) return;
    const p = this.point(ev);
    const { points } = this.drag;
    this.drag = null;
    this.onDraft(null);
    if (this.tool === "pointer") {
      this.pointer(p);
    } else if (this.tool === "pen") {
      if (points.length < MAX_PEN_POINTS) points.push(p);
      this.emit({ shape: "pen", points: points.length >= 2 ? points : [points[0], p] });
    } else {
      this.emit({ shape: this.tool, points: [points[0], p] });
    }
  }

  cancel() {
    this.drag = null;
    this.pointerMoves.cancel();
    this.onDraft(null);
  }

  draft() {
    const pts = this.drag.points;
    if (pts.length < 2) return;
    this.onDraft({ shape: this.tool, color: this.color, points: pts.slice() });
  }

  pointer(p) {
    this.pointerMoves.move(p);
  }

  emit(mark) {
    this.onMark({ color: this.color, ...mark });
  }

  stop() {
    this.cancel();
    this.resize.disconnect();
  }
}

/** Pointer moves, coalesced: at most one every POINTER_INTERVAL_MS, the latest one wins. */
export class PointerMoves {
  constructor(send) {
    this.send = send;
    this.lastAt = -Infinity;
    this.pending = null;
    this.timer = null;
  }

  move(p) {
    this.pending = p;
    const wait = this.lastAt + POINTER_INTERVAL_MS - performance.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), wait); // sends the latest
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.pending) return;
    const p = this.pending;
    this.pending = null;
    this.lastAt = performance.now();
    this.send(p);
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }
}
