// The staff sign-in: a name for a demo token, or a pasted token. Used by the agent console, the
// supervisor view and the QA page. The page decides what a name or a token leads to; this form
// checks that the field is filled and keeps its button disabled while the page signs in.

export class SignIn {
  /**
   * demoForm/nameInput: the name form; tokenForm/tokenInput: the token form.
   * onName(name), onToken(token): may return a promise (the button stays disabled meanwhile).
   * defaultName: used for an empty name (else an empty name is refused in words).
   */
  constructor({ demoForm, nameInput, tokenForm, tokenInput, setError, onName, onToken,
    focusEmptyName = false, defaultName = null }) {
    this.nameInput = nameInput;
    this.tokenInput = tokenInput;
    this.demoButton = demoForm.querySelector('button[type="submit"], button');
    demoForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim() || defaultName || "";
      if (!name) {
        setError("Type your name first.");
        if (focusEmptyName) nameInput.focus();
        return;
      }
      this._busy(onName(name));
    });
    tokenForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = tokenInput.value.trim().replace(/^Bearer\s+/i, "");
      if (!token) {
        setError("Paste a token first.");
        return;
      }
      onToken(token);
    });
  }

  async _busy(result) {
    if (!result || typeof result.then !== "function") return;
    this.demoButton.disabled = true;
    try {
      await result;
    } finally {
      this.demoButton.disabled = false;
    }
  }
}
