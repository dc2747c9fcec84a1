// The demo shop: two products (a ring in "rings", a phone in "phones": each category is an entry
// point that picks a queue), and a pretend signed-in customer. It sets the widget's
// data-silkline-* attributes, which the widget reads when a call starts.

const PHONE_SVG = `
<svg viewBox="0 0 400 400" role="img" aria-labelledby="phone-alt">
  <title id="phone-alt">A slim smartphone with a dark sapphire-glass screen and a brushed titanium frame</title>
  <defs>
    <radialGradient id="pbg" cx="50%" cy="40%" r="70%">
      <stop offset="0" stop-color="#f7f8fa"/><stop offset="1" stop-color="#e2e5ea"/>
    </radialGradient>
    <linearGradient id="frame" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#d9dce1"/><stop offset="0.5" stop-color="#9aa0a9"/><stop offset="1" stop-color="#e8eaee"/>
    </linearGradient>
    <linearGradient id="screen" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#1b2a4a"/><stop offset="0.55" stop-color="#0d1526"/><stop offset="1" stop-color="#24365e"/>
    </linearGradient>
  </defs>
  <rect width="400" height="400" fill="url(#pbg)"/>
  <ellipse cx="200" cy="360" rx="90" ry="10" fill="#000" opacity="0.08"/>
  <rect x="128" y="40" width="144" height="300" rx="26" fill="url(#frame)"/>
  <rect x="136" y="48" width="128" height="284" rx="20" fill="url(#screen)"/>
  <rect x="180" y="58" width="40" height="9" rx="4.5" fill="#05080f"/>
  <path d="M146 70 L230 70 L160 250 L146 250 Z" fill="#ffffff" opacity="0.06"/>
  <text x="200" y="175" text-anchor="middle" font-family="system-ui, sans-serif" font-size="34" fill="#e8eefc" font-weight="300">10:42</text>
  <text x="200" y="198" text-anchor="middle" font-family="system-ui, sans-serif" font-size="11" fill="#9fb0d6">Thursday 26 November</text>
</svg>
<figcaption>Sapphire-glass screen, titanium frame. Shown actual size on a 6.1" display.</figcaption>`;

const PRODUCTS = {
  ring: {
    id: "AUR-152-WG",
    title: "Aurelia sapphire ring",
    category: "rings",
    price: 2480,
    currency: "EUR",
  },
  phone: {
    id: "CEL-S-128-TI",
    title: "Celeste S sapphire-glass smartphone",
    category: "phones",
    price: 1290,
    currency: "EUR",
    eyebrow: "Titanium · sapphire glass · 128 GB",
    lede: "A 6.1-inch phone under a scratch-proof sapphire-crystal screen, in a brushed titanium frame. Two-day battery, dual 48 MP cameras, and a five-year warranty on the glass.",
    facts: [
      ["Screen", "6.1\" OLED, 120 Hz, sapphire crystal"],
      ["Frame", "grade 5 titanium, 168 g"],
      ["Cameras", "48 MP main and ultra-wide, 12 MP front"],
      ["Warranty", "2 years; 5 years on the glass"],
    ],
    optionLabel: "Storage",
    options: ["128 GB", "256 GB", "512 GB"],
    expert: "One of our product experts can show you this phone on camera: how the screen looks in sunlight, how it feels in the hand, and how to move your data over.",
    expertTitle: "Questions before you buy?",
    svg: PHONE_SVG,
  },
};

const params = new URLSearchParams(location.search);
const key = params.get("product") === "phone" ? "phone" : "ring";
const product = PRODUCTS[key];
const $ = (id) => document.getElementById(id);
const money = new Intl.NumberFormat(navigator.language || "en", { style: "currency", currency: product.currency, minimumFractionDigits: 0, maximumFractionDigits: 0 });

if (key === "phone") {
  document.title = `${product.title} — Lumen & Stone`;
  $("gallery").innerHTML = product.svg;
  $("eyebrow").textContent = product.eyebrow;
  $("product-title").textContent = product.title;
  $("lede").textContent = product.lede;
  $("facts").replaceChildren(...product.facts.map(([k, v]) => {
    const li = document.createElement("li");
    const strong = document.createElement("strong");
    strong.textContent = `${k}:`;
    li.append(strong, ` ${v}`);
    return li;
  }));
  $("option-label").textContent = product.optionLabel;
  $("size").replaceChildren(...product.options.map((o) => new Option(o)));
  $("expert-title").textContent = product.expertTitle;
  $("expert-text").textContent = product.expert;
}
$("price").textContent = money.format(product.price);
for (const a of document.querySelectorAll(".shop-header nav a[data-product]")) {
  if (a.dataset.product === key) a.setAttribute("aria-current", "page");
}

const widgetTag = $("silkline-widget");
widgetTag.setAttribute("data-silkline-product-id", product.id);
widgetTag.setAttribute("data-silkline-title", product.title);
widgetTag.setAttribute("data-silkline-price", String(product.price));
widgetTag.setAttribute("data-silkline-currency", product.currency);
widgetTag.setAttribute("data-silkline-category", product.category);

// The pretend signed-in customer: a real shop knows this from its own session.
const CUSTOMER_KEY = "lumen:customer";
const select = $("customer");
const wanted = params.get("customer");
let saved = "";
try {
  saved = localStorage.getItem(CUSTOMER_KEY) || "";
} catch (_) { /* private mode */ }
select.value = wanted !== null ? wanted : saved;
if (select.selectedIndex < 0) select.value = "";
function applyCustomer() {
  if (select.value) widgetTag.setAttribute("data-silkline-customer-id", select.value);
  else widgetTag.removeAttribute("data-silkline-customer-id");
  try {
    localStorage.setItem(CUSTOMER_KEY, select.value);
  } catch (_) { /* private mode */ }
}
select.addEventListener("change", applyCustomer);
applyCustomer();
