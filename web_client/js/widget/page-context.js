// The page a shopper calls from, as the widget sends it in `join.context` (protocol.md, "Page
// context"): the data-silkline-* attributes of its script tag, read when a call starts, and the
// last few pages visited on this site (kept in localStorage).

const TRAJECTORY_KEY = "silkline:trajectory";
const TRAJECTORY_MAX = 6;

export function attrOf(tag, name) {
  const v = tag && tag.getAttribute(`data-silkline-${name}`);
  return v === null || v === undefined || v.trim() === "" ? null : v.trim();
}

function pageTitle(tag) {
  return attrOf(tag, "title") || attrOf(tag, "product") || document.title || location.pathname;
}

function readTrajectory() {
  try {
    const list = JSON.parse(localStorage.getItem(TRAJECTORY_KEY) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.url === "string") : [];
  } catch (_) {
    return [];
  }
}

/** Adds this page to the trajectory (the last few pages visited on this site). */
export function recordVisit(tag) {
  const list = readTrajectory();
  const entry = { url: location.href, title: pageTitle(tag).slice(0, 200), at: Date.now() };
  if (list.length && list[list.length - 1].url === entry.url) list[list.length - 1] = entry;
  else list.push(entry);
  try {
    localStorage.setItem(TRAJECTORY_KEY, JSON.stringify(list.slice(-TRAJECTORY_MAX)));
  } catch (_) {
    /* private mode or full storage: no trajectory */
  }
}

/** The flat `join.context` object (protocol.md, "Page context"), read when the call starts. */
export function pageContext(tag, media) {
  const ctx = {
    title: pageTitle(tag),
    url: location.href,
    locale: navigator.language || null,
    media,
  };
  const priceRaw = attrOf(tag, "price");
  const price = priceRaw !== null && priceRaw !== "" && !Number.isNaN(Number(priceRaw)) ? Number(priceRaw) : priceRaw;
  const fields = {
    product_id: attrOf(tag, "product-id"),
    price,
    currency: attrOf(tag, "currency"),
    category: attrOf(tag, "category"),
    customer_id: attrOf(tag, "customer-id"),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== null && v !== undefined) ctx[k] = v;
  const trail = readTrajectory().slice(-5);
  if (trail.length) {
    ctx.trajectory = trail.map((e) => e.url);
    ctx.trajectory_titles = trail.map((e) => e.title || e.url);
  }
  return ctx;
}
