// After a call the shopper may keep the conversation: GET /api/calls/{id}/conversation with the
// call's shopper token answers one self-contained HTML file (chat and photos), saved through a
// blob: link (no token in any URL). Times are written in the browser's time zone.

const refused = (words) => Object.assign(new Error(words), { words });

/** Fetches the file and hands it to the browser's download; rejects with `.words`. */
export async function downloadConversation({ server, callId, token, into }) {
  const url = new URL(`/api/calls/${encodeURIComponent(callId)}/conversation`, server);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) url.searchParams.set("tz", zone);
  let res;
  try {
    res = await fetch(url.href, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (_) {
    throw refused("The conversation could not be downloaded (network problem). Please try again.");
  }
  if (!res.ok) {
    throw refused(res.status === 409 ? "The conversation can be downloaded once the call has ended."
      : res.status === 401 || res.status === 403 ? "This page may no longer download that conversation."
        : "The conversation could not be downloaded. Please try again.");
  }
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = `conversation-${new Date().toISOString().slice(0, 10)}.html`;
  link.hidden = true;
  into.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
