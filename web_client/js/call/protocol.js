// The signaling protocol's constants and words (docs/protocol.md, v1): close codes, error codes
// and end reasons in sentences for people, and the error type that carries both.
// Plain ES module, no dependencies.

export const PROTOCOL_VERSION = 1;

/** Close codes the server uses (protocol.md). */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  ABNORMAL: 1006, // no close frame: the network cut it, or the page gave up a silent socket
  POLICY: 1008, // flooding
  TOO_LARGE: 1009,
  MOVED: 1012, // cluster: another node decides now, or the node relaying us went away; come back at once
  UNAUTHORIZED: 4401,
  TOO_MANY: 4429, // this address has its cap of open connections
});

const ERROR_WORDS = {
  bad_json: "The server could not read a message from this page.",
  invalid_message: "The server rejected a malformed message.",
  unknown_type: "The server did not understand a message from this page.",
  unsupported_version: "This page speaks a protocol version the server does not support. Reload the page.",
  message_too_large: "A message from this page was too large.",
  rate_limited: "Too many messages were sent too quickly.",
  too_many_waiting: "Calls from here are already waiting for an expert. Please wait for one of them to be answered.",
  too_many_connections: "Too many Silkline windows are open from here. Close one and try again.",
  not_joined: "The connection was not signed in yet.",
  already_joined: "This connection was already signed in.",
  unauthorized: "Your session is not valid or has expired. Reload the page to start again.",
  forbidden: "You are not allowed to do that.",
  call_not_found: "That call no longer exists.",
  invalid_state: "That is not possible at this point of the call.",
  bad_sdp: "The server could not use this browser's media description.",
  bad_candidate: "The server could not use a network address from this browser.",
  internal_error: "Something went wrong on our side.",
};

/** A sentence for people, from an `error` message's stable code (and the server's text). */
export function describeError(code, message) {
  const words = ERROR_WORDS[code] || "Something went wrong.";
  if (code === "unauthorized" && message && /expired/i.test(message)) {
    return "Your session has expired. Reload the page to start again.";
  }
  return words;
}

const END_WORDS = {
  hang_up: "The call was ended.",
  peer_gone: "The connection to the other side was lost and did not come back.",
  timeout: "The call timed out.",
  node_drain: "The service is restarting. Please call again.",
  error: "The call ended because of a problem on our side.",
  declined: "The call was declined.",
  replaced: "The call continued in another window.",
  unavailable: "No expert is available right now. Please try again later.",
  callback: "We will call you back.",
  transferred: "The call was handed on to a colleague.",
  monitor_end: "Monitoring ended.",
};

const UNAVAILABLE_WORDS = {
  no_agents: "No expert is available right now. Please try again later.",
  queue_full: "All our experts are busy. Please try again in a few minutes.",
  wait_limit: "We're sorry: nobody could take your call in time. Please try again later.",
};

/**
 * Why a call ended, in words. `me` is the viewer's role, `by` who ended it,
 * `other` how to name the other side ("the expert", "the shopper").
 */
export function describeEnd(reason, { by, me, other = "the other side", detail } = {}) {
  if (reason === "unavailable" && detail && UNAVAILABLE_WORDS[detail]) return UNAVAILABLE_WORDS[detail];
  if (reason === "hang_up") {
    if (by && me && by === me) return "You ended the call.";
    if (by && by !== "server") return `${capitalize(other)} ended the call.`;
  }
  if (reason === "peer_gone") {
    return `The connection to ${other} was lost and did not come back.`;
  }
  return END_WORDS[reason] || (reason ? `The call ended (${reason}).` : "The call ended.");
}

export function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** ws:// or wss:// URL of `/ws` on the given (default: this page's) origin. */
export function websocketUrl(base = location.href) {
  const url = new URL("/ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** An error that carries the protocol's stable code and a sentence for people. */
export class SilklineError extends Error {
  constructor(code, message, words) {
    super(message || code);
    this.code = code;
    this.words = words || describeError(code, message);
  }
}
