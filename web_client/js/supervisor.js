// Silkline supervisor view: the live picture (calls, agents, queues, pushed as `dashboard`),
// monitoring a call (silent, whisper to the agent, barge in), and figures over a period.
//
// Staff sign in with an account (AccountSignIn). Query parameters: ?name=Sam (demo servers on
// loopback: sign in at once with a demo token), ?debug (log the protocol).
//
// The page composes its parts around one state object (supervisor/page.js): the live board,
// the monitor, the figures, the node board, the shared sign-in and a reconnecting session.

import { CLOSE } from "./call/protocol.js";
import { ReconnectingSession } from "./call/session.js";
import { AccountSignIn, SignIn } from "./components/sign-in.js";
import { demoToken } from "./rest.js";
import "./supervisor/figures.js";
import { markStale, onDashboard, onMonitorClick } from "./supervisor/live-board.js";
import { startMonitor } from "./supervisor/monitor.js";
import { refreshNodes, startNodeBoard } from "./supervisor/node-board.js";
import { el, setConn, setError, setSignedIn, state } from "./supervisor/page.js";

const params = new URLSearchParams(location.search);
const debug = params.has("debug");
const log = (...a) => { if (debug) console.log("[silkline supervisor]", ...a); };

/** One ReconnectingSession per sign-in: its handlers stay across reconnects. */
function newSession(getToken) {
  const s = new ReconnectingSession({
    getToken,
    maxAttempts: 8,
    log,
    onJoined: (joined) => onJoined(s, joined),
  });
  s.on("dashboard", (m) => onDashboard(m));
  s.on("monitoring", (m) => state.monitor && state.monitor.onMonitoring(m));
  s.on("answer", (m) => state.monitor && state.monitor.onAnswer(m));
  s.on("migrated", (m) => state.monitor && state.monitor.onMigrated(m));
  s.on("call-ended", (m) => state.monitor && state.monitor.onCallEnded(m));
  s.on("chat", (m) => state.monitor && state.monitor.onChat(m));
  s.on("photo", (m) => state.monitor && state.monitor.onPhoto(m));
  s.on("annotation", (m) => state.monitor && state.monitor.onAnnotation(m));
  s.on("error", (m) => {
    if (m.code === "bad_candidate") return;
    setError(m.words + (m.message && m.code === "invalid_state" ? ` (${m.message})` : ""));
    if (m.code === "unauthorized") signOut(m.words);
  });
  s.on("lost", (info) => {
    if (s !== state.session) return;
    markStale("Reconnecting…");
    if (state.monitor) state.monitor.lost("The connection to the server was lost, so monitoring stopped.");
    if (info.code === CLOSE.UNAUTHORIZED) {
      signOut("Your session is not valid or has expired. Sign in again.");
      return;
    }
    s.reconnect();
  });
  s.on("reconnecting", ({ attempt }) => setConn("reconnecting", `Reconnecting… (attempt ${attempt})`));
  s.on("give-up", () => {
    markStale("Offline.");
    setConn("error", "Offline");
    setError("The connection to the server was lost and could not be restored. Reload the page.");
  });
  s.on("rejoin-refused", (err) => {
    if (err.code === "unauthorized") signOut(err.words);
    else s.reconnect();
  });
  return s;
}

function onJoined(s, joined) {
  if (s !== state.session) return;
  state.iceServers = Array.isArray(joined.ice_servers) ? joined.ice_servers : [];
  state.me.id = joined.participant_id;
  if (joined.role !== "supervisor" && joined.role !== "admin") {
    signOut("That token is not a supervisor's token.");
    return;
  }
  setConn("live", "Live");
  setSignedIn(true);
  refreshNodes();
}

function signOut(words) {
  account.signOut();
  if (state.session) state.session.stop({ leave: false });
  if (state.monitor) state.monitor.close();
  setConn("error", "Signed out");
  setError(words);
  setSignedIn(false);
}

async function signInWith(getToken, name) {
  setError("");
  let t;
  try {
    t = await getToken();
  } catch (err) {
    setConn("error", "Not signed in");
    setError(err.words || "Could not sign in.");
    return;
  }
  if (!t) {
    setError("Demo sign-in is switched off on this server. Paste a supervisor token.");
    el.tokenDetails.open = true;
    el.tokenInput.focus();
    return;
  }
  if (state.session) state.session.stop({ leave: false });
  state.token = t;
  state.me.name = name;
  const session = newSession(async () => t);
  state.session = session;
  setConn("connecting", "Connecting…");
  try {
    await session.open();
  } catch (err) {
    setConn("error", "Not signed in");
    setError(err.words || "Could not sign in.");
    session.stop({ leave: false });
  }
}


new SignIn({ // eslint-disable-line no-new
  demoForm: el.demoForm,
  nameInput: el.nameInput,
  tokenForm: el.tokenForm,
  tokenInput: el.tokenInput,
  setError,
  onName: (name) => signInWith(() => demoToken("supervisor", name), name),
  onToken: (t) => signInWith(async () => t, null),
});

const account = new AccountSignIn({
  root: el.signin,
  page: "supervisor",
  roles: ["supervisor", "admin"],
  storageKey: "silkline.supervisor.session",
  roleWords: "The supervisor view is for supervisor and admin accounts.",
  onSignedIn: (session) => signInWith(async () => session.token, session.display_name || session.name),
  onRefreshed: (session) => {
    state.token = session.token;
    if (state.session) state.session.refreshToken(session.token); // the socket and every re-join
  },
});

el.signOut.addEventListener("click", () => {
  signOut("");
  setConn("idle", "Not signed in");
  el.username.focus();
});

onMonitorClick(startMonitor);
startNodeBoard();

// --- start ----------------------------------------------------------------------------------

window.addEventListener("pagehide", () => {
  if (state.monitor) state.monitor.stop();
  if (state.session) state.session.stop();
});

// For automation and support tools: the monitoring RTCPeerConnection (for getStats).
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (state.monitor && state.monitor.peer ? state.monitor.peer.pc : null),
  monitor: () => state.monitor,
  board: () => state.board,
  state: () => state.conn,
});

setSignedIn(false);
setConn("idle", "Not signed in");
if (params.get("name")) {
  el.nameInput.value = params.get("name").slice(0, 80);
  signInWith(() => demoToken("supervisor", el.nameInput.value), el.nameInput.value);
} else {
  el.username.focus();
  account.start();
}
