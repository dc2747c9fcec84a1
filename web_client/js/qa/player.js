// The playback file of a call: the player, composing progress and failures (with a
// retry), signed URLs refreshed when they expire, and the preview thumbnails.

import { h } from "../dom.js";
import { baseDuration } from "./call-view.js";
import { renderTracks } from "./facts.js";
import { fmtClock } from "./format.js";
import { $, POLL_MS, api, clearError, describe, el, showError, state } from "./page.js";
import { currentTime, layoutTimeline, pct, renderTimeline, seek, startRaf, updateTime } from "./timeline.js";

// ---- media: player, composing progress, failures

export function compositeState(detail) {
  const comp = detail.composite || {};
  if (comp.state) return comp.state;
  return (detail.tracks || []).length || detail.call?.recorded ? "tracks" : "none";
}

export function renderMedia(detail) {
  const comp = detail.composite || {};
  const st = compositeState(detail);
  const box = el.mediaState;
  box.dataset.state = st;
  box.textContent = "";
  box.hidden = st === "complete";
  const canCompose = (detail.tracks || []).some((t) => t.state === "complete" || t.state === "interrupted")
    || (detail.call?.recordings || []).length > 0;
  el.recomposePip.hidden = !(canCompose && (st === "complete" || st === "failed" || st === "tracks"));
  el.revealToggle.closest("label").hidden = st !== "complete";

  if (st === "complete") {
    showPlayer(comp);
    return;
  }
  el.playerWrap.hidden = true;
  if (state.video) {
    state.video.pause();
    state.video = null;
  }
  el.playerWrap.textContent = "";
  if (st === "composing") {
    const pct = Math.round((comp.progress || 0) * 100);
    box.append(
      h("div", { class: "state-icon spin", "aria-hidden": "true" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "Preparing the playback file…" }),
        h("p", { class: "muted", text: "The call's tracks are being put side by side with their sound. This page updates by itself." }),
        h("div", { class: "progress", role: "progressbar", "aria-label": "Composition progress", "aria-valuemin": 0,
          "aria-valuemax": 100, "aria-valuenow": pct, testid: "compose-progress" },
        progressFill(pct)),
        h("p", { class: "small muted", text: `${pct} % done` })));
    schedulePoll();
  } else if (st === "failed") {
    box.append(
      h("div", { class: "state-icon bad", "aria-hidden": "true", text: "!" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "The playback file could not be made." }),
        h("p", { class: "muted", text: comp.reason ? `Reason: ${comp.reason}` : "No reason was given." }),
        h("p", { class: "muted", text: "The separate track recordings listed below are still kept; you can try composing again." }),
        h("button", { type: "button", class: "btn small", testid: "recompose", onclick: () => recompose("side_by_side") },
          "Try again")));
  } else if (st === "tracks") {
    box.append(
      h("div", { class: "state-icon", "aria-hidden": "true", text: "…" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "No playback file yet." }),
        h("p", { class: "muted", text: "This call has track recordings (below) but no combined playback file. Compose one to replay it here." }),
        canCompose ? h("button", { type: "button", class: "btn small primary", testid: "compose",
          onclick: () => recompose("side_by_side") }, "Compose playback file") : null));
  } else {
    const call = detail.call || {};
    let why = "Recording was not started for this call.";
    if (call.recording_consent === false) why = "The shopper declined to be recorded.";
    else if (detail.outcome !== "answered") why = "The call was never answered, so there was nothing to record.";
    box.append(
      h("div", { class: "state-icon", "aria-hidden": "true", text: "—" }),
      h("div", { class: "state-text" },
        h("p", { class: "state-title", text: "This call was not recorded." }),
        h("p", { class: "muted", text: `${why} The timeline, chat and photos are still shown.` })));
  }
}

/** The bar's width is set through the CSSOM: a style="" attribute is refused by the page's CSP. */
export function progressFill(pct) {
  const fill = h("div", { class: "progress-fill" });
  fill.style.width = `${pct}%`;
  return fill;
}

export function showPlayer(comp) {
  el.playerWrap.hidden = false;
  if (state.video && state.video.dataset.file === comp.file) return; // already playing this file
  el.playerWrap.textContent = "";
  const video = h("video", {
    controls: true, preload: "auto", playsinline: true, testid: "player", "data-file": comp.file || "",
    poster: comp.poster_url || null, "aria-label": "Recording of the call",
  });
  video.src = comp.file_url;
  state.video = video;
  state.mediaRefreshed = false;
  video.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(video.duration) && video.duration > 0) {
      state.duration = video.duration;
      layoutTimeline();
      updateTime(video.currentTime);
    }
  });
  for (const kind of ["timeupdate", "seeked", "seeking", "pause", "ended"]) {
    video.addEventListener(kind, () => updateTime(video.currentTime));
  }
  video.addEventListener("play", () => startRaf());
  video.addEventListener("error", () => refreshMedia(video));
  el.playerWrap.append(video);
  renderThumbs(comp);
}

/** Signed URLs expire (10 minutes): fetch fresh ones once and carry on where we were. */
export async function refreshMedia(video) {
  if (state.mediaRefreshed || video !== state.video) {
    showError("The recording could not be played. It may have been deleted, or your browser cannot play it.");
    return;
  }
  state.mediaRefreshed = true;
  const gen = state.gen;
  const at = video.currentTime;
  try {
    const detail = await api(`/api/recordings/${encodeURIComponent(state.callId)}`);
    if (gen !== state.gen || !detail?.composite?.file_url) return;
    state.detail.composite = detail.composite;
    video.src = detail.composite.file_url;
    video.addEventListener("loadedmetadata", () => { video.currentTime = at; }, { once: true });
  } catch (err) {
    if (err.status !== 401 && err.status !== 403) showError(describe(err));
  }
}

export function schedulePoll() {
  clearTimeout(state.pollTimer);
  const gen = state.gen;
  state.pollTimer = setTimeout(async () => {
    if (gen !== state.gen) return;
    let detail;
    try {
      detail = await api(`/api/recordings/${encodeURIComponent(state.callId)}`);
    } catch (err) {
      if (gen !== state.gen || err.status === 401 || err.status === 403) return;
      showError(`${describe(err)} Still trying…`);
      schedulePoll();
      return;
    }
    if (gen !== state.gen) return;
    clearError();
    const call = state.detail.call;
    state.detail = { ...detail, call: { ...detail.call, scorecard: call.scorecard ?? detail.call?.scorecard } };
    state.duration = baseDuration(state.detail);
    renderMedia(state.detail);
    renderTimeline(state.detail);
    renderTracks(state.detail);
    updateTime(currentTime());
  }, POLL_MS);
}

export async function recompose(layout) {
  if (!state.callId) return;
  const gen = state.gen;
  el.recomposePip.disabled = true;
  clearError();
  try {
    await api(`/api/recordings/${encodeURIComponent(state.callId)}/compose`, {
      method: "POST", body: { layout }, authFatal: false,
    });
    if (gen !== state.gen) return;
    state.detail.composite = { state: "composing", progress: 0 };
    renderMedia(state.detail);
  } catch (err) {
    if (gen !== state.gen) return;
    showError(err.status === 403 ? "Only QA staff and administrators can re-compose recordings." : describe(err));
  } finally {
    el.recomposePip.disabled = false;
  }
}

el.recomposePip.addEventListener("click", () => recompose("pip"));

// ---- thumbnails: the server's sprite, separate images, or frames grabbed from the video

export function imageUrls(list) {
  return (Array.isArray(list) ? list : []).filter((u) => {
    try {
      return /\.(jpe?g|png|webp)$/i.test(new URL(u, location.href).pathname);
    } catch {
      return false;
    }
  });
}

export function renderThumbs(comp) {
  const strip = el.timeline.querySelector(".thumbs");
  if (!strip) return;
  strip.textContent = "";
  const times = Array.isArray(comp.thumbnail_times) && comp.thumbnail_times.length
    ? comp.thumbnail_times
    : Array.from({ length: 8 }, (_, i) => ((i + 0.5) * state.duration) / 8);
  const urls = imageUrls(comp.thumbnail_urls);
  const tiles = times.map((t, i) => {
    const tile = h("button", { type: "button", class: "thumb", testid: `thumb-${i}`, "data-offset": t.toFixed(3),
      title: `Jump to ${fmtClock(t)}`, "aria-label": `Preview at ${fmtClock(t)}: jump there`, onclick: () => seek(t) });
    tile.style.left = `${(100 * i) / times.length}%`;
    tile.style.width = `${100 / times.length}%`;
    strip.append(tile);
    return tile;
  });
  if (urls.length === 1 && times.length > 1) {
    // one horizontal sprite of all thumbnails
    tiles.forEach((tile, i) => {
      tile.style.backgroundImage = `url("${urls[0]}")`;
      tile.style.backgroundSize = `${times.length * 100}% 100%`;
      tile.style.backgroundPosition = `${(100 * i) / (times.length - 1)}% 0`;
    });
  } else if (urls.length === times.length) {
    tiles.forEach((tile, i) => { tile.style.backgroundImage = `url("${urls[i]}")`; });
  } else {
    grabThumbs(comp.file_url, times, tiles);
  }
}

/** Decode frames from a second, hidden <video> (same origin, so the canvas stays readable). */
export async function grabThumbs(src, times, tiles) {
  if (!src) return;
  const gen = ++state.thumbGen;
  const probe = document.createElement("video");
  probe.muted = true;
  probe.preload = "auto";
  probe.src = src;
  const once = (target, name) => new Promise((resolve, reject) => {
    const ok = () => { cleanup(); resolve(); };
    const bad = () => { cleanup(); reject(new Error("video error")); };
    const cleanup = () => { target.removeEventListener(name, ok); target.removeEventListener("error", bad); };
    target.addEventListener(name, ok, { once: true });
    target.addEventListener("error", bad, { once: true });
  });
  try {
    if (probe.readyState < 1) await once(probe, "loadedmetadata");
    const canvas = document.createElement("canvas");
    const w = 192;
    canvas.width = w;
    canvas.height = Math.max(2, Math.round((w * probe.videoHeight) / Math.max(1, probe.videoWidth)));
    const ctx = canvas.getContext("2d");
    for (let i = 0; i < times.length; i += 1) {
      if (gen !== state.thumbGen) return;
      probe.currentTime = Math.min(times[i], Math.max(0, probe.duration - 0.05));
      await once(probe, "seeked");
      ctx.drawImage(probe, 0, 0, canvas.width, canvas.height);
      tiles[i].style.backgroundImage = `url("${canvas.toDataURL("image/jpeg", 0.72)}")`;
    }
  } catch {
    /* no previews: the strip stays as plain seek buttons */
  } finally {
    probe.removeAttribute("src");
    probe.load();
  }
}
