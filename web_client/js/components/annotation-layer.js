// Marks on a live video, drawn on a <canvas> over it: the same rules as media/annotation.py
// (the recorder draws the same marks onto the QA video). A mark's points are normalized to the
// picture as its target sends it (not mirrored); a self view shown as a mirror draws them
// mirrored so that a mark lands on the same object. A newer pointer by the same author on the
// same target replaces the older; undo takes away the author's latest mark still shown; clear
// takes away every mark on the target. A mark fades out over the last FADE_TAIL seconds of
// fade_s unless pinned. Times are this page's (performance.now(), ms): when the mark arrived.

export const FADE_TAIL = 0.5;
export const DEFAULT_COLOR = "#ff3b30";
export const DEFAULT_FADE_S = 4.0;
const MARKS = new Set(["pointer", "arrow", "circle", "pen", "text"]);

/** Where a video element shows its picture, in the element's CSS pixels ({x, y, w, h}),
 *  given its object-fit (contain letterboxes, cover crops); null until the video has a size. */
export function pictureRect(video, fit = getComputedStyle(video).objectFit) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  const cw = video.clientWidth;
  const ch = video.clientHeight;
  if (!vw || !vh || !cw || !ch) return null;
  if (fit === "fill") return { x: 0, y: 0, w: cw, h: ch };
  const scale = fit === "cover" ? Math.max(cw / vw, ch / vh) : Math.min(cw / vw, ch / vh);
  const w = vw * scale;
  const h = vh * scale;
  return { x: (cw - w) / 2, y: (ch - h) / 2, w, h };
}

/** The marks on one party's video, as state: add server (or local) events, ask what shows. */
export class AnnotationLayer {
  constructor({ target, now = () => performance.now() }) {
    this.target = target; // whose video: "shopper" | "agent"
    this.now = now;
    this.marks = []; // {mark, start (ms), end (ms, Infinity when pinned), gone}
    this.known = new Set(); // recent annotation ids: an echo of a mark already gone stays gone
  }

  /** One annotation event (server message or the author's own, same annotation_id). */
  add(mark, at = this.now()) {
    if (!mark || mark.target !== this.target) return false;
    if (MARKS.has(mark.shape)) {
      const same = this.marks.find((s) => s.mark.annotation_id === mark.annotation_id);
      if (same) { // the echo of a mark drawn here already: keep its start
        same.mark = mark;
        return true;
      }
      if (this.known.has(mark.annotation_id)) return false; // replaced or taken away meanwhile
      this.known.add(mark.annotation_id);
      if (this.known.size > 500) this.known.delete(this.known.values().next().value);
      if (mark.shape === "pointer") {
        for (const s of this.shown(at)) {
          if (s.mark.shape === "pointer" && s.mark.by === mark.by) s.gone = true;
        }
      }
      const fade = (mark.fade_s || DEFAULT_FADE_S) * 1000;
      this.marks.push({ mark, start: at, end: mark.pinned ? Infinity : at + fade, gone: false });
      this.prune(at);
      return true;
    }
    let shown = this.shown(at);
    if (mark.shape === "undo") shown = shown.filter((s) => s.mark.by === mark.by).slice(-1);
    if (mark.shape === "undo" || mark.shape === "clear") {
      for (const s of shown) s.gone = true;
      this.prune(at);
      return true;
    }
    return false;
  }

  shown(at = this.now()) {
    return this.marks.filter((s) => !s.gone && at < s.end);
  }

  /** The marks showing now with their opacity, oldest first (newer ones drawn on top). */
  visible(at = this.now()) {
    return this.shown(at).map((s) => ({
      mark: s.mark,
      opacity: Math.min(1, (s.end - at) / (FADE_TAIL * 1000)),
    })).filter((v) => v.opacity > 0);
  }

  /** Whether anything still shows (or will fade): the owner keeps drawing frames while so. */
  get active() {
    return this.shown().length > 0;
  }

  prune(at) {
    this.marks = this.marks.filter((s) => !s.gone && at < s.end);
  }

  clear() {
    this.marks = [];
    this.known.clear();
  }
}

/** Draws `visible` marks on a 2D context within the picture `rect` (canvas pixels). */
export function drawMarks(ctx, rect, visible, { mirror = false } = {}) {
  if (!rect || rect.w < 2 || rect.h < 2) return;
  const thickness = Math.max(2, Math.round(Math.min(rect.w, rect.h) / 120));
  const px = ([nx, ny]) => [
    rect.x + (mirror ? 1 - nx : nx) * (rect.w - 1),
    rect.y + ny * (rect.h - 1),
  ];
  for (const { mark, opacity } of visible) {
    ctx.save();
    ctx.globalAlpha = opacity;
    ctx.strokeStyle = mark.color || DEFAULT_COLOR;
    ctx.fillStyle = mark.color || DEFAULT_COLOR;
    ctx.lineWidth = thickness;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    drawOne(ctx, mark, (mark.points || []).map(px), thickness, rect, mirror);
    ctx.restore();
  }
}

function drawOne(ctx, mark, points, t, rect, mirror) {
  if (mark.shape === "pointer") {
    const [x, y] = points[0];
    ctx.beginPath();
    ctx.arc(x, y, t * 5, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(x, y, t * 2.5, 0, 2 * Math.PI);
    ctx.fill();
  } else if (mark.shape === "arrow") {
    const [[x0, y0], [x1, y1]] = points;
    const length = Math.hypot(x1 - x0, y1 - y0);
    if (length < 1) {
      ctx.beginPath();
      ctx.arc(x1, y1, t, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    const tip = Math.min(0.5, (t * 6) / length) * length;
    const angle = Math.atan2(y1 - y0, x1 - x0);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    for (const side of [-1, 1]) {
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - tip * Math.cos(angle + (side * Math.PI) / 4), y1 - tip * Math.sin(angle + (side * Math.PI) / 4));
    }
    ctx.stroke();
  } else if (mark.shape === "circle") {
    const [[cx, cy], [rx, ry]] = points;
    ctx.beginPath();
    ctx.arc(cx, cy, Math.max(t, Math.hypot(rx - cx, ry - cy)), 0, 2 * Math.PI);
    ctx.stroke();
  } else if (mark.shape === "pen") {
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
  } else if (mark.shape === "text") {
    const size = Math.max(12, Math.round(Math.min(rect.w, rect.h) / 18));
    ctx.font = `${size}px system-ui, sans-serif`;
    const text = String(mark.text || "");
    const pad = Math.max(3, Math.round(size / 3));
    const bw = ctx.measureText(text).width + 2 * pad;
    const bh = size + 2 * pad;
    // the anchor is the label's top-left on the picture: its top-right in a mirror (same spot)
    const left = mirror ? points[0][0] - bw : points[0][0];
    const x = Math.max(rect.x, Math.min(left, rect.x + rect.w - bw));
    const y = Math.max(rect.y, Math.min(points[0][1], rect.y + rect.h - bh));
    ctx.fillStyle = "rgb(20, 20, 20)";
    ctx.fillRect(x, y, bw, bh);
    ctx.fillStyle = mark.color || DEFAULT_COLOR;
    ctx.textBaseline = "top";
    ctx.fillText(text, x + pad, y + pad);
  }
}

/** A canvas over a video (or a still) that shows one AnnotationLayer: sized to the element's
 *  box in device pixels, redrawn on each new mark and while marks fade. `onDraw(now)` is told
 *  after each frame that drew something (for measuring latency). */
export class AnnotationCanvas {
  constructor({ canvas, layer, source, mirrored = () => false, onDraw = () => {} }) {
    this.canvas = canvas;
    this.layer = layer;
    this.source = source; // () => the <video> or <img> the marks are on
    this.mirrored = mirrored;
    this.onDraw = onDraw;
    this.frame = 0;
    this.drawn = false;
    this.resize = new ResizeObserver(() => this.request());
  }

  watch(element) {
    this.resize.disconnect();
    if (element) this.resize.observe(element);
    this.request();
  }

  /** The picture's rect within the canvas, in canvas pixels. */
  rect() {
    const el = this.source();
    if (!el) return null;
    let r;
    if (el.tagName === "VIDEO") {
      r = pictureRect(el);
    } else {
      const w = el.naturalWidth || el.width;
      const h = el.naturalHeight || el.height;
      if (!w || !h || !el.clientWidth) return null;
      const s = Math.min(el.clientWidth / w, el.clientHeight / h);
      r = { x: (el.clientWidth - w * s) / 2, y: (el.clientHeight - h * s) / 2, w: w * s, h: h * s };
    }
    if (!r) return null;
    const k = this.canvas.width / Math.max(1, this.canvas.clientWidth);
    return { x: r.x * k, y: r.y * k, w: r.w * k, h: r.h * k };
  }

  request() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(c.clientWidth * ratio);
    const h = Math.round(c.clientHeight * ratio);
    if (c.width !== w || c.height !== h) Object.assign(c, { width: w, height: h });
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.clearRect(0, 0, c.width, c.height);
    const visible = this.layer.visible();
    if (visible.length) {
      drawMarks(ctx, this.rect(), visible, { mirror: this.mirrored() });
      this.onDraw(performance.now(), visible);
    }
    if (visible.length || this.drawn) this.drawn = visible.length > 0;
    if (this.layer.active) this.request(); // fading marks change every frame
  }

  stop() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.resize.disconnect();
  }
}
