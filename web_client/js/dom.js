// Building DOM from data without innerHTML: elements with attributes and text children, and
// links that are only ever http(s).

/** Creates an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "testid") el.dataset.testid = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A link only for http(s) addresses (never javascript: and the like). */
export function safeLink(href, text) {
  if (typeof href === "string" && /^https?:\/\//i.test(href)) {
    return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text || href);
  }
  return document.createTextNode(text || href || "");
}

