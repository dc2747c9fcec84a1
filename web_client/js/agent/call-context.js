// What the agent sees about a call before and during it: badges (queue, voice only, returning,
// priority), the shopper's page context as a description list (everything the widget sent),
// and a returning customer's past calls (date, agent, outcome, rating, open callbacks), fetched
// when the call rings (`GET /api/calls/{id}/customer-history`, served only to the agent it rings for).

import { h, safeLink } from "../dom.js";
import { api } from "../rest.js";
import { money, queueName } from "../words.js";

/** The shopper in words: the name the shop gave, else a readable fallback (never a raw id alone). */
export function customerLabel(m) {
  const ctx = (m && m.context) || {};
  if (m && m.customer_name) return m.customer_name;
  return ctx.customer_id ? "Signed-in customer" : "Guest shopper";
}

export function renderBadges(ul, m) {
  ul.replaceChildren();
  const add = (text, cls, testid) => ul.append(h("li", { class: `badge ${cls || ""}`, "data-testid": testid }, text));
  add(`${queueName(m.queue)} queue`, "queue", "badge-queue");
  if (m.audio_only) add("Voice only", "voice", "badge-voice");
  if (m.returning) add("Returning customer", "returning", "badge-returning");
  if (m.priority > 0) add("Priority customer", "vip", "badge-priority");
}

const KNOWN = new Set(["title", "product", "url", "product_id", "price", "currency", "category",
  "customer_id", "locale", "trajectory", "trajectory_titles", "media"]);

export function renderContext(dl, m) {
  dl.replaceChildren();
  const ctx = m && m.context && typeof m.context === "object" ? m.context : {};
  const add = (term, ...value) => {
    if (!value.length || value.every((v) => v === null || v === undefined || v === "")) return;
    dl.append(h("dt", {}, term), h("dd", {}, ...value));
  };
  const title = ctx.title || ctx.product || null;
  add("Product", ctx.url ? safeLink(ctx.url, title || ctx.url) : title);
  if (ctx.product_id) add("Product id", h("code", {}, String(ctx.product_id)));
  add("Price", money(ctx.price, ctx.currency));
  if (ctx.category) add("Category", `${ctx.category} → ${queueName(m.queue)} queue`);
  else add("Queue", queueName(m.queue));
  add("Customer", customerLabel(m), m.returning ? " (returning)" : "",
    ctx.customer_id ? h("span", { class: "sub" }, " · customer no. ", h("code", {}, String(ctx.customer_id))) : "");
  add("Language", ctx.locale);
  if (Array.isArray(ctx.trajectory) && ctx.trajectory.length) {
    const titles = Array.isArray(ctx.trajectory_titles) ? ctx.trajectory_titles : [];
    const ol = h("ol", { class: "trail", "data-testid": "trajectory" },
      ctx.trajectory.map((url, i) => h("li", {}, safeLink(url, titles[i] || url))));
    add("Pages visited", ol);
  }
  for (const [k, v] of Object.entries(ctx)) {
    if (KNOWN.has(k) || v === null || v === "" || typeof v === "object") continue;
    add(k.replace(/_/g, " "), String(v));
  }
  if (!dl.children.length) add("Context", "No details were given.");
}

const OUTCOME_WORDS = { answered: "Answered", callback: "Callback requested", abandoned: "Abandoned" };
const DISPOSITION_WORDS = {
  resolved: "Resolved", sale: "Sale", no_sale: "No sale", follow_up: "Needs a follow-up", other: "Other",
  timed_out: "Wrap-up timed out",
};
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** One past call as a list item: when, with whom, how it ended, the rating, a callback. */
function pastCallRow(c) {
  const when = typeof c.at === "number" ? day.format(new Date(c.at * 1000)) : "–";
  const outcome = c.disposition ? DISPOSITION_WORDS[c.disposition] || c.disposition
    : OUTCOME_WORDS[c.outcome] || c.outcome || "–";
  const agent = c.agent_name || (c.outcome === "answered" ? "a colleague" : "nobody (not answered)");
  const rating = typeof c.rating === "number"
    ? h("span", { class: "stars", "aria-label": `rated ${c.rating} of 5` }, "★".repeat(c.rating), h("span", { class: "off" }, "★".repeat(5 - c.rating)))
    : h("span", { class: "muted" }, "not rated");
  const open = c.callback && c.callback.status === "open";
  return h("li", { class: `past-call${open ? " open-callback" : ""}`, "data-testid": "customer-history-row", "data-call-id": c.call_id },
    h("time", {}, when),
    h("span", { class: "who" }, ` · with ${agent}`),
    h("span", { class: "outcome" }, ` · ${outcome}`),
    " · ", rating,
    c.title ? h("span", { class: "sub" }, ` · ${c.title}`) : "",
    open ? h("span", { class: "badge returning", "data-testid": "open-callback" },
      `Open callback${c.callback.question ? `: “${c.callback.question}”` : ""}`) : "",
    c.notes ? h("span", { class: "notes" }, `Notes: ${c.notes}`) : "");
}

/** Writes the history (or the words for why there is none) into a list and its note. */
export function renderHistory(list, note, history) {
  list.replaceChildren();
  if (!history) {
    note.textContent = "Looking up past calls…";
    return;
  }
  if (history.error) {
    note.textContent = history.error;
    return;
  }
  const calls = history.calls || [];
  if (!history.customer_id) note.textContent = "A guest: the shop did not say who this is, so there is no history.";
  else if (!calls.length) note.textContent = "First call from this customer.";
  else {
    const open = (history.open_callbacks || []).length;
    note.textContent = `${calls.length} past call${calls.length === 1 ? "" : "s"}${open ? ` · ${open} open callback${open === 1 ? "" : "s"}` : ""}`;
  }
  list.append(...calls.map(pastCallRow));
}

/** Fetches the customer's history for a ringing (or our) call; resolves with it, or {error}. */
export async function loadHistory(callId, token) {
  try {
    return await api(`/api/calls/${encodeURIComponent(callId)}/customer-history`, { token });
  } catch (err) {
    return { error: err.status === 404 ? "The call is no longer ringing." : `Past calls could not be shown: ${err.words}` };
  }
}
