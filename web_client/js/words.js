// Figures and names in words: durations, times of day, money, queue and state names.

/** 75 -> "1:15"; 3725 -> "1:02:05". */
export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** Unix seconds (or now) as "14:05". */
export function timeOfDay(at) {
  const d = typeof at === "number" ? new Date(at * 1000) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** 2480, "EUR" -> "€2,480" (the number as given when the currency is unknown). */
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return null;
  const n = Number(amount);
  if (!currency || Number.isNaN(n)) return String(amount) + (currency ? ` ${currency}` : "");
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, minimumFractionDigits: 0, maximumFractionDigits: 2 }).format(n);
  } catch (_) {
    return `${n} ${currency}`;
  }
}

const QUEUE_NAMES = { jewellery: "Jewellery", electronics: "Electronics", general: "General" };
/** "jewellery" -> "Jewellery". */
export function queueName(queue) {
  if (!queue) return "–";
  return QUEUE_NAMES[queue] || queue.charAt(0).toUpperCase() + queue.slice(1).replace(/_/g, " ");
}

const AGENT_STATE_WORDS = {
  available: "Available",
  ringing: "Ringing",
  busy: "In a call",
  wrap_up: "Wrap-up",
  away: "Away",
  offline: "Offline",
};
export function agentStateWords(state) {
  return AGENT_STATE_WORDS[state] || state || "–";
}

const CALL_STATE_WORDS = {
  waiting: "Waiting",
  ringing: "Ringing",
  connecting: "Connecting",
  connected: "Connected",
  ended: "Ended",
};
export function callStateWords(state) {
  return CALL_STATE_WORDS[state] || state || "–";
}

