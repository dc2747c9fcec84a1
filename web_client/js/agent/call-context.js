// What the agent sees about a call before and during it: badges (queue, voice only, returning,
// priority) and the shopper's page context as a description list (everything the widget sent).

import { h, safeLink } from "../dom.js";
import { money, queueName } from "../words.js";

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
  add("Customer", ctx.customer_id ? `${ctx.customer_id}${m.returning ? " (returning)" : ""}` : "Guest (not signed in)");
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
