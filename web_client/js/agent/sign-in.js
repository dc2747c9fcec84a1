// The agent console's sign-in with a staff account (components/sign-in.js AccountSignIn) and
// signing out. A refreshed token is what the presence rejoins with after a dropped socket.

import { AccountSignIn } from "../components/sign-in.js";
import { el, render, setCallState, state } from "./page.js";
import { signIn } from "./presence.js";

export const account = new AccountSignIn({
  root: el.signin,
  page: "agent",
  roles: ["agent"],
  storageKey: "silkline.agent.session",
  roleWords: "The agent console is for agent accounts: supervisors sign in at /supervisor, QA at /qa.",
  onSignedIn: (session) => {
    signIn(async () => session.token, { name: session.display_name || session.name });
    const presence = state.presence;
    // The server refused this account's token (expired, a new server secret): forget it and ask.
    presence.on("state", (st) => {
      if (state.presence !== presence || st.state !== "error" || st.code !== "unauthorized") return;
      account.signOut();
      account.setError("Your sign-in is no longer accepted. Sign in again.");
    });
  },
  onRefreshed: (session) => {
    const connection = state.presence && state.presence.connection;
    if (connection) connection.refreshToken(session.token); // the socket and every re-join
  },
});

export function signOut() {
  account.signOut();
  if (state.presence) state.presence.leave();
  Object.assign(state, {
    presence: null, joined: false, signInOpen: true, agentState: "offline", agentName: null,
    offered: null, current: null, error: "",
  });
  setCallState("idle", "Not signed in");
  render();
  el.accountUsername.focus();
}

el.signOut.addEventListener("click", signOut);
