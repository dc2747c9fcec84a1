// The demo shop: two products (a ring in "rings", a phone in "phones": each category is an entry
// point that picks a queue), and a pretend signed-in customer. It sets the widget's
// data-silkline-* attributes, which the widget reads when a call starts.

// The phone's picture is a <template> in shop.html: markup stays in the page, never in a string.

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
    picture: "phone-picture",
  },
};

const params = new URLSearchParams(location.search);
const key = params.get("product") === "phone" ? "phone" : "ring";
const product = PRODUCTS[key];
const $ = (id) => document.getElementById(id);
const money = new Intl.NumberFormat(navigator.language || "en", { style: "currency", currency: product.currency, minimumFractionDigits: 0, maximumFractionDigits: 0 });

if (key === "phone") {
  document.title = `${product.title} — Lumen & Stone`;
  $("gallery").replaceChildren($(product.picture).content.cloneNode(true));
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
  if (select.value) {
    widgetTag.setAttribute("data-silkline-customer-id", select.value);
    widgetTag.setAttribute("data-silkline-customer-name", select.selectedOptions[0].textContent.trim());
  } else {
    widgetTag.removeAttribute("data-silkline-customer-id");
    widgetTag.removeAttribute("data-silkline-customer-name");
  }
  try {
    localStorage.setItem(CUSTOMER_KEY, select.value);
  } catch (_) { /* private mode */ }
}
select.addEventListener("change", applyCustomer);
applyCustomer();
