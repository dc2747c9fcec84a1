// The widget's configuration: the attributes of the <script> tag that loaded it.

import { websocketUrl } from "../call/protocol.js";

/** The <script> that loaded `scriptUrl` (or, failing that, one with data-silkline-* attributes). */
export function findScriptTag(scriptUrl) {
  const scripts = [...document.querySelectorAll("script[src]")];
  const mine = scripts.find((s) => {
    try {
      return new URL(s.getAttribute("src"), document.baseURI).href.split(/[?#]/)[0] === scriptUrl.split(/[?#]/)[0];
    } catch (_) {
      return false;
    }
  });
  return mine || scripts.find((s) => [...s.attributes].some((a) => a.name.startsWith("data-silkline")));
}

export function readConfig(tag, scriptUrl) {
  const attr = (name, fallback = null) => (tag && tag.hasAttribute(`data-silkline-${name}`) ? tag.getAttribute(`data-silkline-${name}`) : fallback);
  const server = new URL(attr("server") || new URL("/", scriptUrl).href, location.href);
  return {
    tag,
    server,
    cssUrl: new URL("../css/widget.css", scriptUrl).href,
    wsUrl: websocketUrl(server.href),
    tokenUrl: new URL(attr("token-url") || "/api/demo/tokens", server).href,
    mount: attr("mount"),
    label: attr("label") || "Video call an expert",
    debug: (tag ? tag.hasAttribute("data-silkline-debug") : false) || new URLSearchParams(location.search).has("silkline-debug"),
  };
}
