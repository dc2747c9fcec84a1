// The shopper's callback request (instead of waiting, or when nobody can answer): the form's
// fields checked in words next to it, then sent on the call's socket (`callback`).

/** The callback form: checked here in words, then sent on the call's socket. */
export async function submitCallback(w) {
  const el = w.el;
  const name = el.cbName.value.trim();
  const contact = el.cbContact.value.trim();
  w.show({ cbError: "" });
  if (!name) {
    w.show({ cbError: "Please tell us your name." });
    el.cbName.focus();
    return;
  }
  if (!contact || !(/@/.test(contact) || /\d{5,}/.test(contact.replace(/[\s()+.-]/g, "")))) {
    w.show({ cbError: "Please give a phone number or an e-mail address we can reach you on." });
    el.cbContact.focus();
    return;
  }
  const s = w.session;
  if (!s) return;
  el.cbSubmit.disabled = true;
  el.cbSubmit.textContent = "Sending…";
  try {
    await s.requestCallback({ name, contact, question: el.cbQuestion.value.trim() });
    w.callbackOpen = false;
    w.show({
      thanksTitle: "Thank you — we'll call you back.",
      thanksText: `An expert will contact you at ${contact} as soon as possible.`,
    });
    w.setState("callback-sent", "Callback requested");
    queueMicrotask(() => w.el.thanks.focus());
  } catch (err) {
    w.show({ cbError: err.words || "The request could not be sent. Please try again." });
    el.cbSubmit.disabled = false;
  } finally {
    el.cbSubmit.textContent = "Request a callback";
  }
}
