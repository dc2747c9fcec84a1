// What is known about a call (context, handling, outcome) and its recorded tracks.

import { h } from "../dom.js";
import { money } from "../words.js";
import { agentName, firstAt } from "./call-view.js";
import { COMPOSITE_WORDS, END_WORDS, chip, fmtDate, fmtDuration, roleOf, stars, words } from "./format.js";
import { el, state } from "./page.js";
import { agentCell } from "./people.js";

export function safeHttpUrl(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// ---- facts

export function dl(rows) {
  const list = h("dl", {});
  for (const [term, value] of rows) {
    if (value === null || value === undefined) continue;
    list.append(h("dt", { text: term }), h("dd", {}, value instanceof Node ? value : String(value)));
  }
  return list;
}

export function consentWords(call) {
  const events = call.events || [];
  if (call.recording_consent === true) return "Granted by the shopper";
  if (call.recording_consent === false) return "Declined by the shopper";
  if (events.some((e) => e.type === "recording_consent_asked")) return "Asked, no answer";
  if (events.some((e) => e.type === "recording_started")) return "Not asked: this queue always records (shopper informed)";
  return "Not recorded";
}

export function renderFacts(detail) {
  const call = detail.call || {};
  const ctx = call.context || {};
  const events = call.events || [];
  const url = safeHttpUrl(ctx.url);
  const accepted = firstAt(call, "accepted");
  const facts = el.facts;
  facts.textContent = "";

  const product = dl([
    ["Product", ctx.title || "—"],
    ["Price", money(ctx.price, ctx.currency) || "—"],
    ["Category", words(ctx.category)],
    ["Product id", ctx.product_id || null],
    ["Page", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "ellipsis", text: url }) : ctx.url || "—"],
  ]);
  const ended = events.find((e) => e.type === "ended") || {};
  const endedBy = ["shopper", "agent", "supervisor"].includes(ended.by) ? ` by the ${ended.by}` : "";
  const endedDetail = ended.detail ? ` (${words(ended.detail).toLowerCase()})` : "";
  const answered = detail.outcome === "answered";
  const handling = dl([
    ["Queue", words(call.queue)],
    ["Agent", call.agent_id ? agentCell(call.agent_id, call.agent_name || agentName(call)) : "—"],
    ["Started", fmtDate(call.created_at, true)],
    ["Waited", accepted && call.created_at ? fmtDuration(accepted - call.created_at)
      : call.ended_at && call.created_at ? `${fmtDuration(call.ended_at - call.created_at)}, never answered` : "—"],
    ["Talk time", answered && call.ended_at && state.origin ? fmtDuration(call.ended_at - state.origin) : "—"],
    ["Ended", call.end_reason ? `${END_WORDS[call.end_reason] || words(call.end_reason)}${endedBy}${endedDetail}` : "—"],
  ]);
  const rating = call.rating || null;
  const outcome = dl([
    ["Shopper rating", rating ? stars(rating.score) : "Not rated"],
    ["Comment", rating?.comment ? h("q", { text: rating.comment }) : rating ? "No comment" : null],
    ["Disposition", words(call.disposition)],
    ["Agent notes", call.notes || "—"],
    ["Recording consent", consentWords(call)],
    ["Customer", h("span", {}, call.shopper_name || (call.customer_id ? "Signed-in customer" : "Guest shopper"),
      call.customer_id ? h("span", { class: "mono muted small", text: ` · customer no. ${call.customer_id}` }) : "")],
  ]);
  facts.append(
    h("section", { class: "fact-group" }, h("h4", { text: "Context" }), product),
    h("section", { class: "fact-group" }, h("h4", { text: "Handling" }), handling),
    h("section", { class: "fact-group" }, h("h4", { text: "Outcome" }), outcome));
  renderTracks(detail);
}

export function renderTracks(detail) {
  const tracks = detail.tracks?.length ? detail.tracks : detail.call?.recordings || [];
  el.tracks.textContent = "";
  const comp = detail.composite || {};
  if (!tracks.length && !comp.state) {
    el.tracks.append(h("p", { class: "muted", text: "No recordings for this call." }));
    return;
  }
  const body = h("tbody", {});
  const table = h("table", { class: "tracks" },
    h("thead", {}, h("tr", {}, ["Who", "Kind", "Codec", "State", "Length", "Pauses", ""].map((t) => h("th", { scope: "col", text: t })))),
    body);
  if (comp.state) {
    body.append(h("tr", { class: "composite-row" },
      h("td", {}, "Both"), h("td", {}, `Playback (${words(comp.layout || "side_by_side").toLowerCase()})`),
      h("td", {}, comp.state === "complete" ? "H.264 + AAC" : "—"),
      h("td", {}, chip(COMPOSITE_WORDS[comp.state] || words(comp.state), `rec-${comp.state}`)),
      h("td", {}, fmtDuration(comp.duration)), h("td", {}, "—"),
      h("td", {}, comp.file_url ? h("a", { href: comp.file_url, download: "", text: "Download" }) : "")));
  }
  // a track recorded in parts (a reconnect, the call's media moved to a new room): "part 2", by start
  const partOf = new Map(); // track -> its part number
  const partsOf = new Map(); // "role/kind" -> how many parts
  for (const t of [...tracks].sort((a, b) => (a.started_at || 0) - (b.started_at || 0))) {
    const key = `${t.role}/${t.kind}`;
    partsOf.set(key, (partsOf.get(key) || 0) + 1);
    partOf.set(t, partsOf.get(key));
  }
  for (const t of tracks) {
    const kind = partsOf.get(`${t.role}/${t.kind}`) > 1 ? `${words(t.kind)} · part ${partOf.get(t)}` : words(t.kind);
    body.append(h("tr", {},
      h("td", {}, roleOf(t.role)),
      h("td", {}, kind),
      h("td", { class: "mono small" }, t.codec || "—"),
      h("td", {}, chip(words(t.state), t.state === "complete" ? "ok" : t.state === "failed" ? "bad" : "warn",
        { title: t.reason || "" })),
      h("td", {}, fmtDuration(t.duration)),
      h("td", {}, Array.isArray(t.pauses) && t.pauses.length ? String(t.pauses.length) : "—"),
      h("td", {}, t.url ? h("a", { href: t.url, download: "", text: "Download" }) : "")));
  }
  el.tracks.append(table);
}
