// Quick replies in a chat box: the canned answers of the call's queue, as a row of buttons
// (data-testid="quick-reply") above the message input, and "/" plus a few letters in the input
// opens a filtered list (data-testid="quick-reply-suggestions", a listbox the input controls):
// ↑/↓ move, Enter or Tab inserts, Escape closes. Inserting puts the text in the input; the
// agent still reads it over and sends it. Plain ES module; the replies come from
// GET /api/calls/{call_id}/quick-replies, once per call.

import { h } from "../dom.js";
import { api } from "../rest.js";

const SLASH = /(^|\s)\/([^\s/]*)$/; // "/ri" at the caret, at the start or after a space
const MAX_SHOWN = 8;

export class QuickReplies {
  /**
   * @param form   the chat <form>; the row of buttons and the suggestions go just before it
   * @param input  its text <input>
   * @param token  () => the Bearer token
   * @param base   the server's URL
   */
  constructor({ form, input, token, base = location.href }) {
    this.form = form;
    this.input = input;
    this.token = token;
    this.base = base;
    this.callId = null;
    this.replies = [];
    this.failed = false;
    this.matches = [];
    this.active = -1;
    this.query = null; // the letters after "/", while the list is open
    this.row = h("div", { class: "quick-replies", role: "group", "aria-label": "Quick replies", hidden: true });
    this.list = h("ul", {
      class: "quick-reply-suggestions", id: "quick-reply-suggestions", role: "listbox",
      "data-testid": "quick-reply-suggestions", "aria-label": "Quick replies matching what you typed", hidden: true,
    });
    this.error = h("p", { class: "quick-replies-error", role: "alert", hidden: true });
    form.before(this.row, this.list, this.error);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    input.setAttribute("aria-expanded", "false");
    input.addEventListener("input", () => this._typed());
    input.addEventListener("keydown", (ev) => this._key(ev));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    input.addEventListener("focus", () => { if (this.failed) this._load(this.callId); });
  }

  /** The chat box is showing ``callId`` (null: no call): load that call's replies once. */
  show(callId) {
    if (callId === this.callId) return;
    this.callId = callId;
    this.replies = [];
    this.close();
    this._renderRow();
    if (callId) this._load(callId);
  }

  async _load(callId) {
    this.failed = false;
    this.error.hidden = true;
    try {
      const data = await this._fetch(callId);
      if (callId !== this.callId) return;
      this.replies = data.quick_replies || [];
    } catch (err) {
      if (callId !== this.callId) return;
      this.failed = true;
      this.error.textContent = `Quick replies could not be loaded: ${err.words || err.message}`;
      this.error.hidden = false;
    }
    this._renderRow();
  }

  /** The console shows the call as ours from the accept click on; the server says so a moment
   *  later (403 until then): a few tries, 0.5, 1 and 2 s apart. */
  async _fetch(callId) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api(`/api/calls/${encodeURIComponent(callId)}/quick-replies`, { token: this.token(), base: this.base });
      } catch (err) {
        if (err.status !== 403 || attempt >= 3 || callId !== this.callId) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }

  _renderRow() {
    this.row.replaceChildren(...this.replies.map((r) => h("button", {
      type: "button", class: "btn quick-reply", "data-testid": "quick-reply", title: r.text,
      onclick: () => this.insert(r),
    }, r.title)));
    this.row.hidden = this.replies.length === 0;
  }

  /** Put ``reply``'s text into the input: in place of "/letters" when typed, else at the caret. */
  insert(reply) {
    const input = this.input;
    const caret = input.selectionStart ?? input.value.length;
    let before = input.value.slice(0, caret);
    const after = input.value.slice(caret);
    const typed = before.match(SLASH);
    if (typed) before = before.slice(0, before.length - typed[0].length) + typed[1];
    else if (before && !/\s$/.test(before)) before += " ";
    input.value = (before + reply.text + after).slice(0, input.maxLength > 0 ? input.maxLength : undefined);
    const at = Math.min(input.value.length, (before + reply.text).length);
    this.close();
    input.focus();
    input.setSelectionRange(at, at);
  }

  close() {
    this.query = null;
    this.matches = [];
    this.active = -1;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  _typed() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const typed = this.input.value.slice(0, caret).match(SLASH);
    if (!typed || this.replies.length === 0) {
      this.close();
      return;
    }
    const query = typed[2].toLowerCase();
    const starts = this.replies.filter((r) => r.title.toLowerCase().startsWith(query));
    const contains = this.replies.filter((r) => !starts.includes(r) && r.title.toLowerCase().includes(query));
    this.query = query;
    this.matches = [...starts, ...contains].slice(0, MAX_SHOWN);
    this.active = this.matches.length ? 0 : -1;
    this._renderList();
  }

  _renderList() {
    const open = this.query !== null;
    this.list.hidden = !open;
    this.input.setAttribute("aria-expanded", String(open));
    if (!open) return;
    if (!this.matches.length) {
      this.list.replaceChildren(h("li", { class: "quick-reply-none", role: "presentation" },
        `No quick reply starts with “${this.query}”.`));
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    this.list.replaceChildren(...this.matches.map((r, i) => h("li", {
      id: `quick-reply-option-${i}`, role: "option", class: "quick-reply-option",
      "aria-selected": String(i === this.active),
      onmousedown: (ev) => ev.preventDefault(), // keep the focus in the input
      onclick: () => this.insert(r),
    }, h("strong", {}, r.title), h("span", {}, r.text))));
    this.input.setAttribute("aria-activedescendant", `quick-reply-option-${this.active}`);
  }

  _key(ev) {
    if (this.query === null) return;
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      this.close();
    } else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && this.matches.length) {
      ev.preventDefault();
      const step = ev.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.matches.length) % this.matches.length;
      this._renderList();
    } else if ((ev.key === "Enter" || ev.key === "Tab") && this.active >= 0) {
      ev.preventDefault(); // Enter inserts; it does not send the half-typed "/letters"
      this.insert(this.matches[this.active]);
    }
  }
}
