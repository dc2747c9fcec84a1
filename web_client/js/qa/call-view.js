// One call under review: load it, then render its parts (player, timeline, conversation,
// facts, scorecard); closing it frees its timers, its video and its blob: URLs.

import { h } from "../dom.js";
import { renderConversation } from "./conversation.js";
import { renderFacts } from "./facts.js";
import { OUTCOME_WORDS, chip, fmtDate, stars, words } from "./format.js";
import { api, clearError, describe, el, state } from "./page.js";
import { renderMedia } from "./player.js";
import { renderScorecard } from "./scorecard.js";
import { currentTime, renderTimeline, updateTime } from "./timeline.js";
import { setView } from "./views.js";
import { agentLabel } from "./people.js";

// ----------------------------------------------------------------------------- one call

export function closeCall() {
  state.gen += 1;
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
  cancelAnimationFrame(state.raf);
  state.raf = 0;
  if (state.video) {
    state.video.pause();
    state.video.removeAttribute("src");
    state.video.load();
    state.video = null;
  }
  state.blobUrls.revokeAll();
  state.detail = null;
  state.callId = null;
  state.markers = [];
  state.convo = [];
  state.currentConvo = -2;
  state.virtualTime = 0;
  state.virtualMoved = false;
  state.mediaRefreshed = false;
  state.thumbGen += 1;
}

export async function openCall(callId) {
  if (state.callId === callId && state.detail) {
    setView("call");
    return;
  }
  closeCall();
  const gen = state.gen;
  state.callId = callId;
  state.lastOpened = callId;
  setView("call");
  clearError();
  el.callTitle.textContent = `Call ${callId}`;
  el.callSubtitle.textContent = "";
  el.callChips.textContent = "";
  el.callLoading.hidden = false;
  el.callLoading.textContent = "Loading the call…";
  el.callBody.hidden = true;
  let detail;
  try {
    detail = await api(`/api/recordings/${encodeURIComponent(callId)}`);
  } catch (err) {
    if (gen !== state.gen) return;
    el.callLoading.textContent = err.status === 404
      ? `There is no call ${callId}. It may have been erased on the customer's request.`
      : describe(err);
    return;
  }
  if (gen !== state.gen) return;
  state.detail = detail;
  el.callLoading.hidden = true;
  el.callBody.hidden = false;
  renderCall(detail);
  el.callTitle.focus({ preventScroll: true });
}

export function agentName(call) {
  const accepted = (call.events || []).filter((e) => e.type === "accepted" && e.name);
  return accepted.length ? accepted[accepted.length - 1].name : null;
}

export function renderCall(detail) {
  const call = detail.call || {};
  const ctx = call.context || {};
  el.callTitle.textContent = ctx.title || `Call ${call.call_id}`;
  el.callSubtitle.textContent = "";
  const name = agentName(call);
  el.callSubtitle.append(
    h("span", { class: "mono", text: call.call_id }), " · ", fmtDate(call.created_at), " · ",
    words(call.queue), " queue · ", call.agent_id ? agentLabel(call.agent_id, call.agent_name || name) : "no agent");
  el.callChips.textContent = "";
  el.callChips.append(chip(OUTCOME_WORDS[detail.outcome] || words(detail.outcome), `outcome-${detail.outcome}`));
  if (call.disposition) el.callChips.append(chip(words(call.disposition), "plain"));
  if (call.rating?.score) el.callChips.append(stars(call.rating.score));
  state.origin = detail.timeline_origin || firstAt(call, "connected") || firstAt(call, "accepted") || call.created_at || 0;
  state.duration = baseDuration(detail);
  renderMedia(detail);
  renderTimeline(detail);
  renderConversation(detail);
  renderFacts(detail);
  renderScorecard(detail);
  updateTime(currentTime());
}

export function firstAt(call, type) {
  return (call.events || []).find((e) => e.type === type)?.at ?? null;
}

export function baseDuration(detail) {
  const comp = detail.composite || {};
  if (typeof comp.duration === "number" && comp.duration > 0) return comp.duration;
  const end = detail.call?.ended_at || firstAt(detail.call || {}, "ended");
  if (end && state.origin) return Math.max(1, end - state.origin);
  return 1;
}
