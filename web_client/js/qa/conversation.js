// Chat and photos in time order beside the player; photos come with the Bearer header
// and show from blob: URLs, full size in the photo viewer.

import { fetchPhoto, PhotoViewer } from "../components/photo.js";
import { h } from "../dom.js";
import { fmtClock, roleOf } from "./format.js";
import { el, state } from "./page.js";
import { currentTime, eventOffset, seek } from "./timeline.js";

// ---- conversation: chat and photos in time order

export async function loadPhoto(url, img, frame) {
  const gen = state.gen;
  try {
    const objectUrl = await fetchPhoto(url, state.token);
    if (gen !== state.gen) {
      URL.revokeObjectURL(objectUrl);
      return;
    }
    state.blobUrls.add(objectUrl);
    img.src = objectUrl;
    frame.classList.remove("loading");
  } catch {
    if (gen !== state.gen) return;
    frame.classList.remove("loading");
    frame.classList.add("broken");
    frame.textContent = "Photo could not be loaded";
  }
}

export function renderConversation(detail) {
  const call = detail.call || {};
  const list = el.conversation;
  list.textContent = "";
  state.convo = [];
  state.currentConvo = -2;
  const photoUrls = new Map((detail.photos || []).map((p) => [p.photo_id, p.url]));
  const items = (call.events || []).filter((e) => ["chat", "photo", "snapshot"].includes(e.type));
  if (!items.length) {
    list.append(h("li", { class: "convo-empty", text: "No chat messages or photos in this call." }));
    return;
  }
  const counts = {};
  for (const e of items) {
    const offset = Math.max(0, eventOffset(e.at));
    const index = counts[e.type] || 0;
    counts[e.type] = index + 1;
    const role = e.role || "shopper";
    const who = e.name || roleOf(role);
    const time = h("button", { type: "button", class: "convo-time", title: `Jump to ${fmtClock(offset)}`,
      "aria-label": `Jump the video to ${fmtClock(offset)}`, onclick: () => seek(offset) }, fmtClock(offset));
    let body;
    if (e.type === "chat") {
      body = h("p", { class: "convo-text", text: e.text || "" });
    } else {
      const url = photoUrls.get(e.photo_id) || `/api/calls/${encodeURIComponent(call.call_id)}/photos/${encodeURIComponent(e.photo_id)}`;
      const caption = e.type === "snapshot" ? `Snapshot taken by ${who}` : `Photo sent by ${who}`;
      const img = h("img", { alt: caption, width: e.width || null, height: e.height || null });
      const frame = h("button", { type: "button", class: "convo-photo loading", "aria-label": `${caption}: view larger`,
        onclick: () => { if (img.src) openPhoto(img.src, caption); } }, img);
      body = h("div", {}, frame, h("p", { class: "small muted", text: caption }));
      loadPhoto(url, img, frame);
    }
    const li = h("li", { class: `convo-item role-${role} kind-${e.type}`, testid: `${e.type}-item-${index}`,
      "data-offset": offset.toFixed(3), "data-state": "upcoming" },
    h("div", { class: "convo-meta" },
      h("span", { class: `avatar role-${role}`, "aria-hidden": "true", text: (who || "?").charAt(0).toUpperCase() }),
      h("span", { class: "convo-who", text: who }),
      h("span", { class: "convo-role", text: roleOf(role) }),
      time),
    body);
    list.append(li);
    state.convo.push({ offset, el: li, event: e });
  }
}

export function updateConversation(t) {
  // Without a video nothing "plays": show everything until the reviewer moves the playhead.
  const reveal = state.reveal && (!!state.video || state.virtualMoved);
  let current = -1;
  state.convo.forEach((item, i) => {
    const past = item.offset <= t + 0.05;
    if (past) current = i;
    item.el.classList.toggle("upcoming", reveal && !past);
  });
  state.convo.forEach((item, i) => {
    const st = i === current ? "current" : i < current ? "past" : "upcoming";
    if (item.el.dataset.state !== st) item.el.dataset.state = st;
  });
  if (current !== state.currentConvo) {
    state.currentConvo = current;
    const item = state.convo[current];
    if (item) {
      // keep the current message in view inside the panel, without moving the page
      const list = el.conversation; // position: relative, so offsetTop is measured inside it
      const top = item.el.offsetTop;
      const bottom = top + item.el.offsetHeight;
      if (top < list.scrollTop) {
        list.scrollTo({ top: Math.max(0, top - 8), behavior: "smooth" });
      } else if (bottom > list.scrollTop + list.clientHeight) {
        list.scrollTo({ top: Math.max(0, Math.min(top - 8, bottom - list.clientHeight + 8)), behavior: "smooth" });
      }
    }
  }
}

el.revealToggle.addEventListener("change", () => {
  state.reveal = el.revealToggle.checked;
  updateConversation(currentTime());
});

const viewer = new PhotoViewer({ dialog: el.photoDialog, title: el.photoDialogTitle, img: el.photoDialogImg });

export function openPhoto(src, caption) {
  viewer.open(src, caption);
}
