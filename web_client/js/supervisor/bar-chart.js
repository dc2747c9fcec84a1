// Grouped bar charts in inline SVG, built with createElementNS (no library, no markup strings).

import { h } from "../dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** Grouped bars: per queue, answered / abandoned / callbacks. Inline SVG, no library. */
export function barChart(container, groups, series, { max = null, format = (v) => String(v), label }) {
  const width = 560;
  const height = 240;
  const pad = { l: 40, r: 12, t: 16, b: 44 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const top = max ?? Math.max(1, ...groups.flatMap((g) => series.map((s) => g.values[s.key] || 0)));
  const niceTop = max ?? (top <= 4 ? 4 : Math.ceil(top / 4) * 4); // whole-number ticks
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" });
  for (let i = 0; i <= 4; i += 1) {
    const v = (niceTop * i) / 4;
    const y = pad.t + plotH - (plotH * i) / 4;
    chart.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: pad.l - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format(v)));
  }
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(36, (groupW * 0.7) / series.length);
  groups.forEach((g, gi) => {
    const x0 = pad.l + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = g.values[s.key] || 0;
      const bh = niceTop ? (plotH * v) / niceTop : 0;
      const rect = svg("rect", { x: x0 + si * barW, y: pad.t + plotH - bh, width: barW - 3, height: Math.max(0, bh), class: `bar ${s.cls}`, rx: 2 });
      rect.append(svg("title", {}, `${g.name}: ${format(v)} ${s.label.toLowerCase()}`));
      chart.append(rect);
    });
    chart.append(svg("text", { x: pad.l + gi * groupW + groupW / 2, y: height - pad.b + 18, class: "axis", "text-anchor": "middle" }, g.name));
  });
  const legend = h("ul", { class: "legend" }, series.map((s) => h("li", {}, h("span", { class: `swatch ${s.cls}`, "aria-hidden": "true" }), s.label)));
  container.replaceChildren(chart, legend);
}
