// Renders /api/openapi.json as a list of operations. No framework, no innerHTML: every piece of
// text from the document goes in through textContent (the page's CSP allows only our scripts).

const METHODS = ["get", "post", "delete"];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderOperation(path, method, operation) {
  const box = element("section", `operation ${method}`);
  const title = element("div");
  title.append(element("span", "method", method), element("span", "path", path));
  box.append(title, element("div", "summary", operation.summary || ""));
  const auth = (operation.security || []).flatMap((s) => Object.keys(s));
  box.append(element("div", "auth", auth.length ? `auth: ${auth.join(", ")}` : "no token"));
  const statuses = element("ul", "statuses");
  for (const [status, response] of Object.entries(operation.responses || {})) {
    statuses.append(element("li", "", `${status} — ${response.description || ""}`));
  }
  box.append(statuses);
  return box;
}

export function render(doc, root) {
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const tag = (operation.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(renderOperation(path, method, operation));
    }
  }
  root.replaceChildren();
  for (const [tag, boxes] of byTag) {
    root.append(element("h2", "", tag), ...boxes);
  }
}

async function main() {
  const root = document.getElementById("operations");
  try {
    const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
    render(await response.json(), root);
  } catch (error) {
    root.replaceChildren(element("p", "", `The document could not be loaded: ${error}`));
  }
}

main();
