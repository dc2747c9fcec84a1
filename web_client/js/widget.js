// Silkline shopper widget: "Video call an expert", embeddable on any product page.
//
//   <script type="module" src="https://SILKLINE/static/js/widget.js"
//           data-silkline-mount="#expert-call"            (optional: where the button goes;
//                                                           default: a floating button)
//           data-silkline-product-id="AUR-152-WG"          (optional, shown to the agent)
//           data-silkline-title="Aurelia sapphire ring"    (optional; default: the page title)
//           data-silkline-price="2480"                     (optional)
//           data-silkline-currency="EUR"                   (optional)
//           data-silkline-category="rings"                 (optional: the entry point that picks
//                                                           the queue, e.g. rings -> jewellery)
//           data-silkline-customer-id="cust-1042"          (optional: if the shop knows them)
//           data-silkline-label="Video call an expert"    (optional: button text)
//           data-silkline-server="https://SILKLINE"       (optional: default = where this file is)
//           data-silkline-token-url="/shop/silkline-token" (optional: your backend that mints a
//                                                           shopper token; default: the demo
//                                                           endpoint POST /api/demo/tokens)
//           data-silkline-debug></script>                 (optional: log to the console)
//
// The attributes are read when a call starts, so a page may change them at any time (a size or
// colour picker, a customer signing in). `data-silkline-product` (a title) is still understood.
// The widget keeps the last few pages visited on this site (localStorage) and sends them with
// the call, so the expert sees where the shopper came from.
//
// Everything the widget draws lives in a shadow root, so its CSS neither leaks into the page
// nor picks up the page's rules.
//
// This file only finds its configuration and starts the widget; the widget lives in widget/.

import { findScriptTag, readConfig } from "./widget/config.js";
import { ShopperWidget } from "./widget/shopper-widget.js";

const SCRIPT_URL = import.meta.url;

const widget = new ShopperWidget(readConfig(findScriptTag(SCRIPT_URL), SCRIPT_URL));

// For automation and support tools: the live RTCPeerConnection (for getStats) and the state.
window.silkline = Object.assign(window.silkline || {}, {
  peer: () => (widget.session ? widget.session.peer() : null),
  state: () => widget.state,
  history: () => widget.history.slice(),
  callId: () => (widget.session ? widget.session.callId : null),
  widget,
});
