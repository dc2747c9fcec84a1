// The agent's marks on the shopper's video: the tools (components/annotation-tools.js) over the
// remote video, the marks drawn on it (components/annotation-layer.js: the agent's own and the
// shopper's, as the server relays them), and freeze-frame: a full-resolution still from the
// SFU (`snapshot` → `photo{kind: snapshot}`), drawn on here, sent into the chat as a photo.

import { AnnotationCanvas, AnnotationLayer, drawMarks } from "../components/annotation-layer.js";
import { AnnotationTools } from "../components/annotation-tools.js";
import { fetchPhoto } from "../components/photo.js";
import { uploadPhoto } from "../rest.js";
import { $, el, setError, state } from "./page.js";

const LIVE = "connected";
const newId = () => `an_${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;

const a = {
  callId: null,
  live: false, // a connected video call: drawing on
  freeze: "off", // off | waiting (snapshot asked) | on (a still on screen) | sending
  stillUrl: null,
  draft: null,
  sentAt: new Map(), // annotation_id -> epoch ms it was sent (for measuring latency)
};

const stage = {
  marks: $("annotate-marks"), surface: $("annotate-surface"), tools: $("annotate-tools"),
  freeze: $("freeze"), freezeImg: $("freeze-img"), freezeMarks: $("freeze-marks"),
  freezeActions: $("freeze-actions"), freezeSend: $("freeze-send"), freezeCancel: $("freeze-cancel"),
};
stage.surface.annotationSentAt = a.sentAt; // read by the latency measurement in the tests

const liveLayer = new AnnotationLayer({ target: "shopper" });
const stillLayer = new AnnotationLayer({ target: "shopper" });
const withDraft = (layer) => ({
  visible: () => [...layer.visible(), ...(a.draft ? [{ mark: a.draft, opacity: 1 }] : [])],
  get active() { return layer.active; },
});
const liveCanvas = new AnnotationCanvas({ canvas: stage.marks, layer: withDraft(liveLayer), source: () => el.remote });
const stillCanvas = new AnnotationCanvas({ canvas: stage.freezeMarks, layer: withDraft(stillLayer), source: () => stage.freezeImg });
liveCanvas.watch(el.remote);
el.remote.addEventListener("resize", () => liveCanvas.request());

const tools = new AnnotationTools({
  toolbar: stage.tools,
  surface: stage.surface,
  onMark: (mark) => (a.freeze === "on" ? markStill(mark) : send(mark)),
  onDraft: (mark) => {
    a.draft = mark;
    (a.freeze === "on" ? stillCanvas : liveCanvas).request();
  },
  onUndo: () => {
    if (a.freeze === "on") {
      stillLayer.add({ shape: "undo", target: "shopper", by: "agent" });
      stillCanvas.request();
    } else send({ shape: "undo" });
  },
  onClear: () => {
    if (a.freeze === "on") {
      stillLayer.clear();
      stillCanvas.request();
    } else send({ shape: "clear" });
  },
  onFreeze: () => freeze(),
});
tools.over(el.remote);

function send(mark) {
  const s = state.presence;
  if (!s || !a.live) return;
  const msg = { call_id: a.callId, target: "shopper", annotation_id: newId(), ...mark };
  if (msg.shape === "undo" || msg.shape === "clear") {
    delete msg.color;
  } else {
    liveLayer.add({ ...msg, by: "agent" }); // at once; the server's echo takes its place
    liveCanvas.request();
  }
  a.sentAt.set(msg.annotation_id, performance.timeOrigin + performance.now());
  if (a.sentAt.size > 200) a.sentAt.delete(a.sentAt.keys().next().value);
  try {
    s.sendMessage("annotate", msg);
  } catch (err) {
    setError(err.words || "The mark could not be sent.");
  }
}

function markStill(mark) {
  stillLayer.add({ ...mark, target: "shopper", by: "agent", annotation_id: newId(), pinned: true });
  stillCanvas.request();
}

/** A server `annotation`: the agent's own echo or the shopper's. */
export function onAnnotation(m) {
  if (m.call_id !== a.callId) return;
  liveLayer.add(m);
  liveCanvas.request();
}

function freeze() {
  const s = state.presence;
  if (!s || !a.live || a.freeze !== "off") return;
  a.freeze = "waiting";
  render();
  try {
    state.refs.snapshot = s.sendMessage("snapshot", { call_id: a.callId });
  } catch (err) {
    a.freeze = "off";
    render();
    setError(err.words || "Could not freeze the picture.");
  }
}

/** A `photo`: when it is the snapshot asked for by Freeze, it becomes the still to draw on. */
export async function onPhoto(m) {
  if (m.kind !== "snapshot" || a.freeze !== "waiting" || m.call_id !== a.callId) return;
  try {
    const url = await fetchPhoto(m.url, state.presence.token);
    if (a.freeze !== "waiting") {
      URL.revokeObjectURL(url);
      return;
    }
    a.stillUrl = url;
    stillLayer.clear();
    stage.freezeImg.src = url;
    await stage.freezeImg.decode().catch(() => {});
    a.freeze = "on";
    render();
    tools.over(stage.freezeImg);
    stillCanvas.watch(stage.freezeImg);
  } catch (err) {
    a.freeze = "off";
    render();
    setError(err.words || "The still could not be shown.");
  }
}

/** A refused snapshot while freezing: back to live. */
export function onError(e) {
  if (a.freeze === "waiting" && e.ref && e.ref === state.refs.snapshot) {
    a.freeze = "off";
    render();
  }
}

function unfreeze() {
  a.freeze = "off";
  stillLayer.clear();
  a.draft = null;
  if (a.stillUrl) URL.revokeObjectURL(a.stillUrl);
  a.stillUrl = null;
  stage.freezeImg.removeAttribute("src");
  tools.over(el.remote);
  stillCanvas.stop();
  render();
}

/** The still with its marks, at the still's full resolution, as a JPEG blob. */
function annotatedStill() {
  const img = stage.freezeImg;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  drawMarks(ctx, { x: 0, y: 0, w: canvas.width, h: canvas.height }, stillLayer.visible());
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("no JPEG"))), "image/jpeg", 0.9));
}

stage.freezeSend.addEventListener("click", async () => {
  const s = state.presence;
  if (!s || a.freeze !== "on") return;
  a.freeze = "sending";
  render();
  try {
    const blob = await annotatedStill();
    await uploadPhoto(a.callId, blob, s.token); // everybody, us included, gets `photo`
    unfreeze();
  } catch (err) {
    a.freeze = "on";
    render();
    setError(err.words || "The still could not be sent.");
  }
});
stage.freezeCancel.addEventListener("click", () => unfreeze());
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && a.freeze === "on") unfreeze(); // back to the live video
});

/** The call's state, from the presence: drawing is on in a connected video call. */
export function callState(st, current) {
  const live = st === LIVE && !!current && !current.audio_only;
  const callId = current ? current.call_id : null;
  if (callId !== a.callId) {
    liveLayer.clear();
    if (a.freeze !== "off") unfreeze();
    a.callId = callId;
  }
  a.live = live;
  if (!live && a.freeze !== "off") unfreeze();
  render();
}

function render() {
  const frozen = a.freeze === "on" || a.freeze === "sending";
  stage.freeze.hidden = !frozen;
  stage.marks.hidden = frozen;
  stage.freezeActions.hidden = !frozen;
  stage.freezeSend.disabled = a.freeze === "sending";
  stage.freezeSend.textContent = a.freeze === "sending" ? "Sending…" : "Send to chat";
  tools.setEnabled(a.live && a.freeze !== "waiting" && a.freeze !== "sending", frozen);
  if (tools.freezeButton) tools.freezeButton.textContent = a.freeze === "waiting" ? "Freezing…" : "Freeze";
  liveCanvas.request();
}
render();
