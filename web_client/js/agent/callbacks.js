// The open callback requests (GET /api/callbacks), each with a "Done" button. The list is this
// component's state; `render()` writes it.

import { h } from "../dom.js";
import { api } from "../rest.js";
import { queueName, timeOfDay } from "../words.js";

export class CallbackList {
  constructor({ card, count, list, onCount = () => {}, onDone = () => {}, onError = () => {} }) {
    this.el = { card, count, list };
    this.onCount = onCount;
    this.onDone = onDone;
    this.onError = onError;
    this.state = { shown: false, items: null, problem: null, busy: new Set() };
    this.token = null;
  }

  async load(token = this.token) {
    if (!token) return;
    this.token = token;
    let data;
    try {
      data = await api("/api/callbacks", { token });
    } catch (err) {
      Object.assign(this.state, { shown: true, problem: err.words });
      this.render();
      return;
    }
    const items = Array.isArray(data.callbacks) ? data.callbacks : [];
    Object.assign(this.state, { shown: true, problem: null, items });
    this.state.busy.clear();
    this.onCount(items.length);
    this.render();
  }

  async markDone(cb) {
    this.state.busy.add(cb.call_id);
    this.render();
    try {
      await api(`/api/callbacks/${encodeURIComponent(cb.call_id)}/done`, { token: this.token, method: "POST" });
      this.onDone(cb);
      await this.load();
    } catch (err) {
      this.state.busy.delete(cb.call_id);
      this.render();
      this.onError(err.words);
    }
  }

  render() {
    const { card, count, list } = this.el;
    const { shown, items, problem, busy } = this.state;
    card.hidden = !shown;
    if (problem) {
      list.replaceChildren(h("li", { class: "empty" }, problem));
      return;
    }
    if (!items) return;
    count.textContent = items.length ? `(${items.length})` : "";
    if (!items.length) {
      list.replaceChildren(h("li", { class: "empty" }, "No open requests."));
      return;
    }
    list.replaceChildren(...items.map((cb) => this.item(cb, busy.has(cb.call_id))));
  }

  item(cb, busy) {
    const contact = String(cb.contact || "");
    const href = /@/.test(contact) ? `mailto:${contact}` : `tel:${contact.replace(/[^\d+]/g, "")}`;
    const ctx = cb.context || {};
    const done = h("button", {
      type: "button", class: "btn small", "data-testid": `callback-done-${cb.call_id}`,
      "aria-label": `Mark the request from ${cb.name || "this shopper"} as done`, disabled: busy,
      onclick: () => this.markDone(cb),
    }, "Done");
    return h("li", { class: "callback", "data-testid": `callback-${cb.call_id}` },
      h("div", { class: "cb-head" },
        h("strong", {}, cb.name || "Unnamed"),
        h("a", { href }, contact)),
      cb.question ? h("p", { class: "cb-q" }, `“${cb.question}”`) : null,
      h("p", { class: "cb-meta" },
        [ctx.title, `${queueName(cb.queue)} queue`, typeof cb.at === "number" ? `asked at ${timeOfDay(cb.at)}` : null]
          .filter(Boolean).join(" · ")),
      done);
  }
}
