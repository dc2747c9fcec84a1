// A call's chat log: messages and photos in the order they came, in an <ol role="log">. Photos
// are fetched with the Bearer token and shown from blob: URLs, revoked by `clear()`.
//
// One module for the widget, the agent console and the supervisor's monitor; each names its
// classes and words through the options, so each keeps its look.

import { h } from "../dom.js";
import { timeOfDay } from "../words.js";
import { BlobUrls, fetchPhoto } from "./photo.js";

export class ChatLog {
  /**
   * @param list the <ol> to fill
   * @param options
   *   prefix        class prefix ("sl-" in the widget's shadow root)
   *   itemClass     (m, kind) => the <li>'s classes; kind is "chat" or "photo"
   *   whoLine       (m, kind) => "Ann · 14:05"
   *   photoAlt      (m) => the <img>'s alt text
   *   photoTestId   (m) => its data-testid, or null
   *   photoCaption  (m) => a figcaption's text, or null for none
   *   photoLink     wrap the photo in a link that opens it full size
   *   photoSize     "each" (width and height as given) or "both" (only when both are known)
   *   lazy          loading="lazy" on the <img>
   *   token         () => the Bearer token for photos
   *   base          the server's URL (the widget may run on another origin)
   */
  constructor(list, {
    prefix = "",
    itemClass = () => `${prefix}msg`,
    whoLine = (m) => `${m.name || m.role || ""} · ${timeOfDay(m.at)}`,
    photoAlt = () => "Photo",
    photoTestId = () => null,
    photoCaption = () => null,
    photoLink = false,
    photoSize = "each",
    lazy = false,
    token = () => null,
    base = location.href,
  } = {}) {
    this.list = list;
    this.options = { prefix, itemClass, whoLine, photoAlt, photoTestId, photoCaption, photoLink, photoSize, lazy, token, base };
    this.blobs = new BlobUrls();
  }

  clear() {
    this.list.replaceChildren();
    this.blobs.revokeAll();
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  _append(m, kind, body) {
    const o = this.options;
    const li = h("li", { class: o.itemClass(m, kind) }, h("span", { class: `${o.prefix}who` }, o.whoLine(m, kind)), body);
    this.list.append(li);
    this.scrollToEnd();
    return li;
  }

  addChat(m) {
    this._append(m, "chat", h("p", { class: `${this.options.prefix}text` }, m.text));
  }

  async addPhoto(m) {
    const o = this.options;
    const sized = o.photoSize === "each" || (o.photoSize === "both" && m.width && m.height);
    const img = h("img", {
      alt: o.photoAlt(m),
      "data-testid": o.photoTestId(m),
      width: sized ? m.width || null : null,
      height: sized ? m.height || null : null,
      loading: o.lazy ? "lazy" : null,
    });
    const link = o.photoLink ? h("a", { class: "thumb", target: "_blank", rel: "noopener", title: "Open full size" }, img) : null;
    const captionText = o.photoCaption(m);
    const cap = captionText === null ? null : h("figcaption", {}, captionText);
    this._append(m, "photo", h("figure", { class: `${o.prefix}photo` }, link || img, cap));
    try {
      const url = this.blobs.add(await fetchPhoto(m.url, o.token(), o.base));
      img.addEventListener("load", () => this.scrollToEnd(), { once: true });
      img.src = url;
      if (link) link.href = url;
    } catch (err) {
      const words = err.words || "The photo could not be shown.";
      if (cap) cap.textContent = words;
      else img.alt = words;
    }
  }
}
