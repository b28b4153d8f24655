// timeline.js: the SVG timeline under the map: each finding as a bar at its from..to (an instant
// one as a thin tick), the deadline as a vertical line, the seal state as a band of coloured runs,
// the battery percentage as a line, and a time axis in the session's local time.

import { fmtLocal, timeZoneName } from "./util.js";

const NS = "http://www.w3.org/2000/svg";
export const SEAL_COLOURS = {
  intact: "#2e8b57", opened: "#f08c00", cable_cut: "#c92a2a", housing_breached: "#a61e4d", fault: "#7048e8",
  cut: "#c92a2a", tampered: "#a61e4d", unknown: "#adb5bd",
};
export const SEVERITY_COLOURS = { critical: "#7b1010", violation: "#d6336c", warning: "#f59f00", info: "#4c8fd6" };

function svg(tag, attrs) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  return n;
}

function title(node, text) {
  const t = document.createElementNS(NS, "title");
  t.textContent = text;
  node.append(t);
  return node;
}

/**
 * Draw the timeline into `host`. The span runs from the transit's opening to the report's
 * evaluated_at ("now" as far as the report knows), extended to the deadline when that is later;
 * it also stretches to cover the first fix or finding if one comes before the opening.
 */
export function drawTimeline(host, { transit, report, track, times, findings, onSelect, fit }) {
  const width = Math.max(480, Math.floor(host.clientWidth || 900));
  const lanesOf = assignLanes(findings);
  const laneCount = Math.max(1, Math.min(6, lanesOf.count));
  const LANE = 12, TOP = 8, PAD_L = 70, PAD_R = 12;
  const barsTop = TOP, barsH = laneCount * LANE;
  const sealTop = barsTop + barsH + 8, sealH = 10;
  const battTop = sealTop + sealH + 8, battH = 36;
  const axisY = battTop + battH + 6;
  const height = axisY + 20;

  let start = Date.parse(transit.opened_at || report.evaluated_at);
  let end = Date.parse(report.evaluated_at || transit.opened_at);
  const deadline = transit.deadline ? Date.parse(transit.deadline) : NaN;
  if (isFinite(deadline) && (!isFinite(end) || deadline > end)) end = deadline;
  if (fit && (times.length || findings.length)) {
    // "Fit to the fixes": only the span of the fixes and findings (an old transit evaluated
    // today would otherwise be a sliver at the left).
    start = Infinity;
    end = -Infinity;
    if (times.length) { start = times[0]; end = times[times.length - 1]; }
  }
  if (times.length) {
    if (!isFinite(start) || times[0] < start) start = times[0];
    if (!isFinite(end) || times[times.length - 1] > end) end = times[times.length - 1];
  }
  for (const f of findings) {
    const a = Date.parse(f.from), b = Date.parse(f.to || f.from);
    if (a < start) start = a;
    if (b > end) end = b;
  }
  if (!isFinite(start) || !isFinite(end)) { host.replaceChildren(); return; }
  if (end <= start) end = start + 60000;
  const plotW = width - PAD_L - PAD_R;
  const x = (t) => PAD_L + ((t - start) / (end - start)) * plotW;

  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Timeline of findings, seal state and battery" });
  root.append(svg("rect", { x: PAD_L, y: 0, width: plotW, height: axisY, class: "tl-bg" }));

  // Row labels.
  const label = (y, text) => { const t = svg("text", { x: PAD_L - 6, y, class: "tl-label", "text-anchor": "end" }); t.textContent = text; root.append(t); };
  label(barsTop + Math.min(barsH, 12) - 2, "findings");
  label(sealTop + sealH - 1, "seal");
  label(battTop + battH / 2 + 4, "battery");

  // Findings.
  findings.forEach((f, idx) => {
    const a = Date.parse(f.from), b = Date.parse(f.to || f.from);
    const lane = Math.min(laneCount - 1, lanesOf.lane[idx]);
    const x0 = x(a), x1 = x(b);
    const w = Math.max(2, x1 - x0);
    const r = svg("rect", {
      x: w <= 2 ? x0 - 1 : x0, y: barsTop + lane * LANE, width: w, height: LANE - 3,
      class: `finding-bar sev-${f.severity}${b - a <= 0 ? " instant" : ""}`, fill: SEVERITY_COLOURS[f.severity] || "#868e96",
      "data-key": f.key, tabindex: "-1",
    });
    title(r, `${f.severity} ${f.code}: ${f.message || ""}\n${fmtLocal(f.from)} – ${fmtLocal(f.to)}`);
    r.addEventListener("click", () => onSelect(f.key));
    root.append(r);
  });

  // Seal band: one rect per run of equal states, from the run's first fix to the next run's first.
  const band = svg("g", { class: "seal-band" });
  const seal = track.seal || [];
  let runStart = 0;
  for (let i = 1; i <= times.length; i++) {
    if (i === times.length || seal[i] !== seal[runStart]) {
      const st = seal[runStart] || "unknown"; // null: the fix carried no seal state
      const t1 = i < times.length ? times[i] : Math.max(times[i - 1], times[runStart] + 1);
      const r = svg("rect", {
        x: x(times[runStart]), y: sealTop, width: Math.max(1, x(t1) - x(times[runStart])), height: sealH,
        fill: SEAL_COLOURS[st] || SEAL_COLOURS.unknown, class: `seal-run seal-${st}`,
      });
      title(r, `seal ${st}: ${fmtLocal(new Date(times[runStart]).toISOString())}`);
      band.append(r);
      runStart = i;
    }
  }
  root.append(band);

  // Battery line (gaps where the fix had no battery reading).
  const batt = track.battery_pct || [];
  let d = "";
  let pen = false;
  for (let i = 0; i < times.length; i++) {
    const v = batt[i];
    if (typeof v !== "number") { pen = false; continue; }
    const y = battTop + battH - (Math.max(0, Math.min(100, v)) / 100) * battH;
    d += `${pen ? "L" : "M"}${x(times[i]).toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  }
  root.append(svg("line", { x1: PAD_L, x2: PAD_L + plotW, y1: battTop + battH, y2: battTop + battH, class: "tl-grid" }));
  root.append(svg("line", { x1: PAD_L, x2: PAD_L + plotW, y1: battTop, y2: battTop, class: "tl-grid" }));
  const bl = svg("path", { d: d || "M0 0", class: "battery-line", fill: "none" });
  title(bl, "battery %");
  root.append(bl);

  // Deadline.
  if (isFinite(deadline) && deadline >= start && deadline <= end) {
    const dx = x(deadline);
    root.append(svg("line", { x1: dx, x2: dx, y1: 0, y2: axisY, class: "tl-deadline" }));
    const t = svg("text", { x: Math.min(dx - 3, width - 4), y: axisY - 3, class: "tl-deadline-label", "text-anchor": "end" });
    t.textContent = "deadline";
    root.append(t);
  }

  // Axis: about 6 labels in local time.
  root.append(svg("line", { x1: PAD_L, x2: PAD_L + plotW, y1: axisY, y2: axisY, class: "tl-axis" }));
  const ticks = Math.max(2, Math.min(7, Math.floor(plotW / 140)));
  for (let k = 0; k <= ticks; k++) {
    const t = start + (end - start) * k / ticks;
    const tx = x(t);
    root.append(svg("line", { x1: tx, x2: tx, y1: axisY, y2: axisY + 4, class: "tl-axis" }));
    const lab = svg("text", { x: tx, y: axisY + 15, class: "tl-tick", "text-anchor": k === 0 ? "start" : k === ticks ? "end" : "middle" });
    lab.textContent = fmtLocal(new Date(t).toISOString()).slice(5);
    root.append(lab);
  }
  const tz = svg("text", { x: 4, y: axisY + 15, class: "tl-tick" });
  tz.textContent = timeZoneName();
  root.append(tz);

  host.replaceChildren(root);
}

/** Greedy lanes so overlapping findings sit on separate rows. */
function assignLanes(findings) {
  const ends = [];
  const lane = [];
  for (const f of findings) {
    const a = Date.parse(f.from), b = Date.parse(f.to || f.from);
    let l = ends.findIndex((e) => e < a);
    if (l < 0) { l = ends.length; ends.push(b); } else ends[l] = b;
    lane.push(l);
  }
  return { lane, count: ends.length };
}

export function markSelectedBar(host, key) {
  for (const r of host.querySelectorAll(".finding-bar")) r.classList.toggle("selected", r.getAttribute("data-key") === key);
}
