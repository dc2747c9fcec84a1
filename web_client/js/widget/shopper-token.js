// A shopper token for one call, from the shop's backend (data-silkline-token-url) or, on a demo
// server, POST /api/demo/tokens. Refusals carry a sentence for the shopper in `.words`.

const refused = (message, words) => Object.assign(new Error(message), { words });

export async function fetchShopperToken(tokenUrl, customerId = null) {
  let res;
  try {
    res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(customerId ? { role: "shopper", customer_id: customerId } : { role: "shopper" }),
    });
  } catch (_) {
    throw refused("fetch failed", "Could not reach the video service. Check your connection and try again.");
  }
  if (res.status === 404) throw refused("no token endpoint", "Video calls are not available on this page right now.");
  if (!res.ok) {
    throw refused(`token ${res.status}`, "The video service could not start a call. Please try again in a moment.");
  }
  const body = await res.json();
  if (!body.token) throw refused("no token", "The video service gave no call ticket.");
  return body.token;
}
