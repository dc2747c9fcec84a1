// How the widget's dialog sits on the page. On a phone (a narrow screen, or a short touch screen
// held sideways) the open panel is the whole screen, its controls fixed at the bottom, and the
// shop page behind it does not scroll. On any screen a live call can be minimised to a small bar
// (its state and "Back to the call") to browse the shop while talking: the media goes on.
// The open dialog keeps the keyboard focus inside it (Tab and Shift+Tab wrap round), and Escape
// closes it — or, during a call, minimises it: Escape never hangs up.

import { LIVE } from "./panel.js";

export const PHONE_QUERY = "(max-width: 600px), (pointer: coarse) and (max-height: 500px)";
const QUEUED = new Set(["starting", "waiting", "ringing"]);
const FOCUSABLE = 'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])';

/** Stops the page behind the full-screen call from scrolling (and puts it back as it was). */
class PageLock {
  constructor() {
    this.saved = null;
  }

  lock() {
    if (this.saved) return;
    const html = document.documentElement;
    const body = document.body;
    const y = window.scrollY;
    this.saved = { y, html: html.style.overflow,
      body: { overflow: body.style.overflow, position: body.style.position, top: body.style.top, width: body.style.width } };
    html.style.overflow = "hidden";
    // position: fixed as well: iOS Safari scrolls an overflow-hidden body under a finger
    Object.assign(body.style, { overflow: "hidden", position: "fixed", top: `-${y}px`, width: "100%" });
  }

  unlock() {
    if (!this.saved) return;
    const { y, html, body } = this.saved;
    this.saved = null;
    document.documentElement.style.overflow = html;
    Object.assign(document.body.style, body);
    window.scrollTo(0, y);
  }

  get locked() {
    return !!this.saved;
  }
}

export class CallView {
  constructor(widget) {
    this.w = widget;
    this.minimised = false;
    this.unread = 0; // messages and photos that arrived while minimised
    this.phoneQuery = window.matchMedia(PHONE_QUERY);
    this.phoneQuery.addEventListener("change", () => this.w.render());
    this.pageLock = new PageLock();
    const el = widget.el;
    el.minimise.addEventListener("click", () => this.minimise());
    el.restore.addEventListener("click", () => this.restore());
    el.panel.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  get phone() {
    return this.phoneQuery.matches;
  }

  /** Full screen: a phone with the panel open and not minimised. */
  get fullScreen() {
    return this.phone && this.w.open && !this.minimised;
  }

  onKey(ev) {
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      if (LIVE.has(this.w.state)) this.minimise();
      else this.w.closePanel();
    } else if (ev.key === "Tab") {
      this.trapTab(ev);
    }
  }

  /** Tab past the last control comes back to the first, Shift+Tab before the first to the last. */
  trapTab(ev) {
    const list = this.focusables();
    if (!list.length) {
      ev.preventDefault();
      return;
    }
    const active = this.w.root.activeElement;
    const at = list.indexOf(active);
    if (ev.shiftKey && at <= 0) {
      ev.preventDefault();
      list[list.length - 1].focus();
    } else if (!ev.shiftKey && (at === -1 || at === list.length - 1)) {
      ev.preventDefault();
      list[0].focus();
    }
  }

  focusables() {
    return [...this.w.el.panel.querySelectorAll(FOCUSABLE)]
      .filter((e) => !e.disabled && !e.closest("[hidden]") && e.getClientRects().length > 0);
  }

  minimise() {
    if (!LIVE.has(this.w.state) || this.minimised) return;
    this.minimised = true;
    this.unread = 0;
    this.w.render();
    this.w.el.restore.focus();
  }

  restore() {
    if (!this.minimised) return;
    this.minimised = false;
    this.unread = 0;
    this.w.render();
    this.w.el.title.focus();
  }

  /** A chat line or photo arrived: counted on the bar while minimised. */
  noteMessage() {
    if (!this.minimised) return;
    this.unread += 1;
    this.w.render();
  }

  /** The call's state moved on: the panel comes back when the expert answers or the call ends. */
  callState(state, was) {
    if (!this.minimised) return;
    if (!LIVE.has(state) || (state === "connecting" && QUEUED.has(was))) {
      this.minimised = false;
      this.unread = 0;
    }
  }

  /** Writes the dialog's placement from the state (renderPanel calls it). */
  render() {
    const w = this.w;
    const el = w.el;
    const live = LIVE.has(w.state);
    if (!live) this.minimised = false;
    const open = w.open && !this.minimised;
    el.panel.hidden = !open;
    el.panel.setAttribute("aria-modal", String(open));
    el.mini.hidden = !(w.open && this.minimised);
    el.call.hidden = w.floating && w.open;
    el.call.setAttribute("aria-expanded", String(open));
    el.minimise.hidden = !live;
    el.rootDiv.classList.toggle("sl-full", this.fullScreen);
    el.rootDiv.classList.toggle("sl-minimised", this.minimised);
    if (this.fullScreen) this.pageLock.lock();
    else this.pageLock.unlock();
    if (this.minimised) {
      const who = w.agentName ? ` with ${w.agentName}` : "";
      el.miniState.textContent = w.state === "connected" ? `In a call${who}` : w.words;
      el.mini.dataset.state = w.state;
      el.miniNote.textContent = this.unread ? `${this.unread} new ${this.unread === 1 ? "message" : "messages"}` : "";
    }
  }
}
