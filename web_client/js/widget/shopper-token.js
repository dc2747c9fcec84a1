// A shopper token for one call, from the shop's backend (data-silkline-token-url) or, on a demo
// server, POST /api/demo/tokens. Refusals carry a sentence for the shopper in `.words`.

const refused = (message, words) => Object.assign(new Error(message), { words });

export async function fetchShopperToken(tokenUrl, customerId = null, customerName = null) {
  // the shop's backend (or the demo) puts the customer's name in the token: the agent sees it
  const body = { role: "shopper" };
  if (customerId) body.customer_id = customerId;
  if (customerName) body.name = customerName;
  let res;
  try {
    res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (_) {
    throw refused("fetch failed", "Could not reach the video service. Check your connection and try again.");
  }
  if (res.status === 404) throw refused("no token endpoint", "Video calls are not available on this page right now.");
  if (!res.ok) {
    throw refused(`token ${res.status}`, "The video service could not start a call. Please try again in a moment.");
  }
  const answer = await res.json();
  if (!answer.token) throw refused("no token", "The video service gave no call ticket.");
  return answer.token;
}
