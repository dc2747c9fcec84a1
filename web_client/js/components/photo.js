// Photos of a call: fetched with the `Authorization: Bearer` header (never a token in a URL) and
// shown from blob: URLs, which the owner revokes when the call's view goes away; and a viewer
// (a modal <dialog>) for a photo at full size.

import { wordsError } from "../rest.js";

/** Fetches a photo with the token and returns a blob: URL (revoke it when done). */
export async function fetchPhoto(path, token, base = location.href) {
  let res;
  try {
    res = await fetch(new URL(path, base).href, { headers: { Authorization: `Bearer ${token}` } });
  } catch (_) {
    throw wordsError("The photo could not be loaded (network problem).", "network");
  }
  if (!res.ok) throw wordsError("The photo could not be loaded.", "http");
  return URL.createObjectURL(await res.blob());
}

/** The blob: URLs one view made; `revokeAll()` frees them. */
export class BlobUrls {
  constructor() {
    this.urls = [];
  }

  add(url) {
    this.urls.push(url);
    return url;
  }

  revokeAll() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }
}

/** A photo at full size in a modal dialog: `<dialog>` with a title and an <img>. */
export class PhotoViewer {
  constructor({ dialog, title, img }) {
    this.dialog = dialog;
    this.title = title;
    this.img = img;
  }

  open(src, caption) {
    this.img.src = src;
    this.img.alt = caption;
    this.title.textContent = caption;
    this.dialog.showModal();
  }
}
