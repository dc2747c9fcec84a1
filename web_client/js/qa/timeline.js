// The call's timeline: lanes of markers (joined, chat, photos, recording, supervisor),
// the ruler, the playhead and seeking, and the previous/next event buttons.

import { h } from "../dom.js";
import { firstAt } from "./call-view.js";
import { updateConversation } from "./conversation.js";
import { END_WORDS, LANES, MARKER_TYPES, fmtClock, icon, roleOf, words } from "./format.js";
import { el, state } from "./page.js";
import { agentLabel } from "./people.js";
import { renderThumbs } from "./player.js";

// ---- timeline

/** What each supervision mode means, as a marker's words. */
const SUPERVISION_MODES = {
  silent: "went back to silent monitoring (nobody hears them)",
  whisper: "whispered to the agent (only the agent hears them)",
  barge: "barged in (the shopper and the agent both hear them)",
};
const LEGEND = [
  ["monitor_silent", "Silent: listens, nobody hears"],
  ["monitor_whisper", "Whisper: only the agent hears"],
  ["monitor_barge", "Barge-in: both hear"],
  ["monitor_left", "Supervisor left"],
];

function supervisorName(e) {
  return e.name || "A supervisor";
}

/** The key to the supervision markers: shown when the call has any. */
function supervisionLegend(markers) {
  if (!markers.some((m) => m.type.startsWith("monitor_"))) return null;
  return h("ul", { class: "tl-legend", testid: "supervision-legend", "aria-label": "Supervision markers" },
    LEGEND.map(([type, text]) => h("li", { class: `legend-item legend-${type}` },
      h("span", { class: `marker marker-${type} legend-swatch`, "aria-hidden": "true" }, icon(type)), text)));
}

export function eventOffset(at) {
  return typeof at === "number" ? at - state.origin : 0;
}

export function timelineEvents(call) {
  const out = [];
  const events = call.events || [];
  const hasConnected = events.some((e) => e.type === "connected");
  const counts = {};
  const add = (type, event, title) => {
    const index = counts[type] || 0;
    counts[type] = index + 1;
    out.push({ type, index, event, at: event.at, offset: eventOffset(event.at), title });
  };
  for (const e of events) {
    switch (e.type) {
      case "connected":
        add("joined", e, "Joined: both sides connected, media flowing");
        break;
      case "accepted":
        if (!hasConnected) add("joined", e, `Joined: ${e.name || e.agent_id || "the agent"} accepted`);
        break;
      case "chat": {
        const who = `${e.name || roleOf(e.role)} (${roleOf(e.role).toLowerCase()})`;
        const text = String(e.text || "");
        add("chat", e, `Chat — ${who}: ${text.length > 90 ? text.slice(0, 87) + "…" : text}`);
        break;
      }
      case "photo":
        add("photo", e, `Photo from ${e.name || roleOf(e.role)} (${roleOf(e.role).toLowerCase()})`);
        break;
      case "snapshot":
        add("snapshot", e, `Snapshot of the ${e.target === "agent" ? "agent's" : "shopper's"} camera, taken by ${
          e.name || (e.role === "shopper" ? "the shopper" : "the agent")}`);
        break;
      case "recording_paused":
        add("recording_paused", e, "Recording paused by the agent");
        break;
      case "recording_resumed":
        add("recording_resumed", e, "Recording resumed");
        break;
      case "transferred":
        add("transferred", e, `Transferred${e.to_agent ? ` to ${agentLabel(e.to_agent)}` : e.to_queue ? ` to the ${words(e.to_queue)} queue` : ""}`);
        break;
      case "reconnecting":
        add("reconnecting", e, `Connection trouble on the ${e.role || "?"} side${e.cause ? ` (${e.cause})` : ""}`);
        break;
      case "migrated":
        add("migrated", e, `The media moved to ${e.to_node ? `server ${e.to_node}` : "a new room"}${
          { node_lost: " (its server was lost)", node_drain: " (its server was draining)", operator: " (by an operator)" }[e.reason] || ""
        }; the recording goes on as a new segment`);
        break;
      case "media_state": {
        const off = [e.video === false ? "camera off" : "", e.audio === false ? "muted" : ""].filter(Boolean);
        add("media", e, `The ${roleOf(e.role).toLowerCase()}: ${off.length ? off.join(", ") : "camera and microphone on"}`);
        break;
      }
      case "monitor_started":
        add("monitor_silent", e, `${supervisorName(e)} started monitoring silently (nobody hears them)`);
        break;
      case "monitor_mode": {
        const mode = SUPERVISION_MODES[e.mode] ? e.mode : "silent";
        add(`monitor_${mode}`, e, `${supervisorName(e)} ${SUPERVISION_MODES[mode]}`);
        break;
      }
      case "monitor_stopped":
        add("monitor_left", e, `${supervisorName(e)} stopped monitoring`);
        break;
      case "ended":
        add("hang-up", e, e.reason === "hang_up"
          ? `Hang-up by the ${e.by || "?"}`
          : `Ended: ${END_WORDS[e.reason] || words(e.reason)}${
            ["shopper", "agent", "supervisor"].includes(e.by) ? ` by the ${e.by}` : ""}`);
        break;
      default:
        break;
    }
  }
  return out;
}

export function pauseSpans(call) {
  const spans = [];
  let open = null;
  for (const e of call.events || []) {
    if (e.type === "recording_paused" && open === null) open = e.at;
    if (e.type === "recording_resumed" && open !== null) {
      spans.push([open, e.at]);
      open = null;
    }
  }
  const end = call.ended_at || firstAt(call, "ended");
  if (open !== null && end) spans.push([open, end]);
  return spans.map(([a, b]) => [eventOffset(a), eventOffset(b)]);
}

export function renderTimeline(detail) {
  const call = detail.call || {};
  const tl = el.timeline;
  tl.textContent = "";
  state.markers = timelineEvents(call);
  const lanesUsed = new Set(["call", ...state.markers.map((m) => MARKER_TYPES[m.type].lane)]);
  const pauses = pauseSpans(call);
  if (pauses.length) lanesUsed.add("recording");

  const grid = h("div", { class: "tl-grid" });
  let rows = 0;
  const addRow = (label, track) => {
    rows += 1;
    label.style.gridRow = String(rows);
    track.style.gridRow = String(rows);
    grid.append(label, track);
  };
  // ruler (also a scrubber)
  addRow(h("div", { class: "tl-label ruler-label", "aria-hidden": "true" }),
    h("div", { class: "tl-track tl-ruler", "aria-hidden": "true" }));
  for (const [lane, label] of LANES) {
    if (!lanesUsed.has(lane)) continue;
    addRow(h("div", { class: "tl-label", text: label }),
      h("div", { class: `tl-track lane lane-${lane}`, "data-lane": lane }));
  }
  if (detail.composite?.state === "complete") {
    addRow(h("div", { class: "tl-label preview-label", text: "Preview" }),
      h("div", { class: "tl-track thumbs", testid: "thumbnails" }));
  }
  const overlay = h("div", { class: "tl-overlay", "aria-hidden": "true" },
    h("div", { class: "playhead", testid: "playhead" }, h("span", { class: "playhead-knob" })));
  overlay.style.gridRow = `1 / ${rows + 1}`; // over the ruler, every lane and the preview
  grid.append(overlay);
  tl.append(grid);

  const recLane = grid.querySelector(".lane-recording");
  state.pauseEls = pauses.map(([a, b]) => {
    const span = h("div", { class: "pause-span", title: `Recording paused ${fmtClock(a)}–${fmtClock(b)}`,
      "data-start": a, "data-end": b });
    recLane?.append(span);
    return span;
  });

  for (const m of state.markers) {
    const spec = MARKER_TYPES[m.type];
    const label = `${m.title} · ${fmtClock(Math.max(0, m.offset))}${m.offset < -0.5 ? " (before the recording starts)" : ""}`;
    m.el = h("button", {
      type: "button", class: `marker marker-${m.type}`, testid: `marker-${m.type}-${m.index}`,
      title: label, "aria-label": label, "data-offset": Math.max(0, m.offset).toFixed(3), "data-label": spec.label,
      onclick: () => {
        seek(Math.max(0, m.offset));
        highlightConversationAt(m);
      },
    }, icon(m.type));
    grid.querySelector(`.lane-${spec.lane}`).append(m.el);
  }

  // clicking or dragging on the tracks seeks
  grid.querySelectorAll(".tl-ruler, .lane").forEach((track) => {
    track.addEventListener("pointerdown", (ev) => {
      if (ev.target.closest(".marker")) return;
      const rect = track.getBoundingClientRect();
      const to = (x) => seek(Math.max(0, Math.min(1, (x - rect.left) / rect.width)) * state.duration);
      to(ev.clientX);
      const move = (e) => to(e.clientX);
      const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
  });
  const legend = supervisionLegend(state.markers);
  if (legend) tl.append(legend);
  layoutTimeline();
  if (detail.composite?.state === "complete") renderThumbs(detail.composite);
}

export function pct(offset) {
  const d = state.duration > 0 ? state.duration : 1;
  return `${Math.max(0, Math.min(100, (100 * offset) / d))}%`;
}

export function layoutTimeline() {
  const ruler = el.timeline.querySelector(".tl-ruler");
  if (!ruler) return;
  ruler.textContent = "";
  const d = state.duration;
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => d / s <= 7) || 3600;
  for (let i = 0; i * step <= d + 1e-6; i += 1) {
    const t = i * step;
    const tick = h("span", { class: "tick" }, h("span", { class: "tick-label", text: fmtClock(t, step < 1) }));
    tick.style.left = pct(t);
    if (t > d - step * 0.45 && t > 0) tick.classList.add("tick-last");
    ruler.append(tick);
  }
  for (const m of state.markers) {
    m.el.style.left = pct(Math.max(0, Math.min(m.offset, d)));
  }
  for (const span of state.pauseEls || []) {
    const a = Number(span.dataset.start);
    const b = Number(span.dataset.end);
    span.style.left = pct(a);
    span.style.width = `calc(${pct(b)} - ${pct(a)})`;
  }
}

// ---- time: playhead, clock, conversation reveal

export function currentTime() {
  return state.video ? state.video.currentTime : state.virtualTime;
}

export function seek(t) {
  const to = Math.max(0, Math.min(t, state.duration));
  if (state.video) {
    state.video.currentTime = to;
  } else {
    state.virtualTime = to;
    state.virtualMoved = true;
  }
  updateTime(to);
}

export function startRaf() {
  cancelAnimationFrame(state.raf);
  const tick = () => {
    const video = state.video;
    if (!video || video.paused || video.ended) {
      state.raf = 0;
      return;
    }
    updateTime(video.currentTime);
    state.raf = requestAnimationFrame(tick);
  };
  state.raf = requestAnimationFrame(tick);
}

export function updateTime(t) {
  const playhead = el.timeline.querySelector(".playhead");
  if (playhead) playhead.style.left = pct(t);
  el.clock.textContent = `${fmtClock(t, true)} / ${fmtClock(state.duration, true)}`;
  for (const m of state.markers) m.el?.classList.toggle("passed", m.offset <= t + 0.05);
  updateConversation(t);
}

export function highlightConversationAt(marker) {
  const item = state.convo.find((c) => c.event === marker.event);
  if (item) {
    item.el.classList.remove("flash");
    void item.el.offsetWidth; // restart the animation
    item.el.classList.add("flash");
  }
}

// ---- previous / next event

export function jumpEvent(direction) {
  const t = currentTime();
  const offsets = [...new Set(state.markers.map((m) => Math.max(0, m.offset)))].sort((a, b) => a - b);
  const target = direction > 0
    ? offsets.find((o) => o > t + 0.25)
    : [...offsets].reverse().find((o) => o < t - 0.75);
  seek(target ?? (direction > 0 ? state.duration : 0));
}

el.prevEvent.addEventListener("click", () => jumpEvent(-1));
el.nextEvent.addEventListener("click", () => jumpEvent(1));
