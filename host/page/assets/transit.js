// transit.js: the view of one transit: its header, the map (map.js), the findings in time order
// beside it, the timeline under it (timeline.js), the shadow findings on request, and the
// selection of a finding shared by the list, the timeline bars and the map markers.

import { api, el, timeNode, fmtDuration, partyName } from "./util.js";
import { ensureMap, drawTransit, selectOnMap, rampColour, invalidate, clearMap } from "./map.js";
import { drawTimeline, markSelectedBar, SEVERITY_COLOURS, SEAL_COLOURS } from "./timeline.js";

function $(id) { return document.getElementById(id); }

let current = null;   // {id, data, times, findings, selected, signature}
let wired = false;

function byTime(a, b) {
  const d = Date.parse(a.from) - Date.parse(b.from);
  if (d) return d;
  return Date.parse(a.to || a.from) - Date.parse(b.to || b.from);
}

function url(id) {
  const shadow = $("show-shadow").checked ? "?shadow=true" : "";
  return `/page/api/transits/${encodeURIComponent(id)}${shadow}`;
}

function signature(data) {
  const r = data.report || {};
  return JSON.stringify([r.evaluated_at, r.verdict, r.fixes, (r.findings || []).map((f) => [f.key, f.to, f.status]),
    data.track && data.track.fixes, (data.shadow || []).length]);
}

function fact(dl, term, ...value) {
  dl.append(el("div", null, el("dt", null, term), el("dd", null, ...value)));
}

function zoneName(z) { return z ? (z.name || z.id || "?") : "?"; }

function drawHeader(id, data) {
  const t = data.transit || {};
  const r = data.report || {};
  $("t-id").textContent = t.id || id;
  const v = $("t-verdict");
  v.textContent = r.verdict || "?";
  v.className = `badge v-${r.verdict}`;
  $("casefile").setAttribute("href", `/page/api/transits/${encodeURIComponent(id)}/casefile.txt`);
  const dl = $("t-facts");
  dl.replaceChildren();
  fact(dl, "Vehicle", t.vehicle || "—");
  fact(dl, "Seal", t.seal_id || "—");
  fact(dl, "Importer", partyName(t.importer));
  fact(dl, "Route", zoneName(t.departure), " → ", zoneName(t.destination),
    el("span.muted", null, ` · corridor ±${((t.corridor_m || 5000) / 1000).toLocaleString("en")} km`));
  fact(dl, "Opened", timeNode(t.opened_at));
  fact(dl, "Deadline", timeNode(t.deadline));
  fact(dl, "Evaluated", timeNode(r.evaluated_at));
  const fx = r.fixes || {};
  const tr = data.track || {};
  fact(dl, "Fixes", `${fx.accepted ?? 0} accepted · ${fx.rejected ?? 0} rejected · ${fx.duplicates ?? 0} duplicates`,
    tr.simplified ? el("span.muted", null, ` (map shows ${tr.at.length} of ${tr.fixes}, thinned evenly)`) : null);
}

function evidenceList(ev) {
  const keys = ev ? Object.keys(ev) : [];
  if (!keys.length) return null;
  const dl = el("dl.evidence");
  for (const k of keys) {
    const v = ev[k];
    dl.append(el("dt", null, k), el("dd", null, typeof v === "string" ? v : JSON.stringify(v)));
  }
  return dl;
}

function findingItem(f, shadow) {
  const from = Date.parse(f.from), to = Date.parse(f.to || f.from);
  const positioned = typeof f.lat === "number" && typeof f.lon === "number";
  const li = el(`li.finding.sev-${f.severity}${shadow ? ".shadow" : ""}`, {
    tabindex: shadow ? null : "0",
    role: shadow ? null : "button",
    dataset: {
      key: f.key || "", from: f.from || "", to: f.to || "",
      ...(positioned ? { lat: String(f.lat), lon: String(f.lon) } : {}),
    },
  },
  el("div.finding-top", null,
    el(`span.badge.sev.sev-${f.severity}`, null, f.severity || "?"), " ",
    el("code.code", null, f.code || "?"),
    f.status === "open" ? el("span.ongoing", null, "still going on") : null),
  el("p.message", null, f.message || ""),
  el("p.when", null, timeNode(f.from, true), " → ", timeNode(f.to, true),
    el("span.duration", null, ` · ${to > from ? fmtDuration(to - from) : "instant"}`)),
  evidenceList(f.evidence),
  el("p.policy.muted", null, `${f.policy || "?"} ${f.policy_version || ""}`,
    positioned ? ` · ${f.lat.toFixed(5)}, ${f.lon.toFixed(5)}` : " · no position"));
  return li;
}

/** Select a finding: `move` moves the map to it; the list scrolls to it unless `scroll` is false. */
function select(key, move = true, scroll = true) {
  if (!current) return;
  const f = current.findings.find((x) => x.key === key) || null;
  current.selected = f ? key : null;
  for (const li of document.querySelectorAll("#findings li.finding")) {
    const on = li.dataset.key === key;
    li.classList.toggle("selected", on);
    li.setAttribute("aria-pressed", on ? "true" : "false");
    if (on && scroll) li.scrollIntoView({ block: "nearest" });
  }
  markSelectedBar($("timeline"), current.selected);
  selectOnMap(f, current.data.track, current.times, move);
}

function wire() {
  if (wired) return;
  wired = true;
  const list = $("findings");
  list.addEventListener("click", (e) => {
    const li = e.target.closest("li.finding");
    if (li) select(li.dataset.key);
  });
  list.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    const li = e.target.closest("li.finding");
    if (li) { e.preventDefault(); select(li.dataset.key); }
  });
  $("print").addEventListener("click", () => window.print());
  $("timeline-fit").addEventListener("change", () => { if (current) drawTl(); });
  $("show-shadow").addEventListener("change", () => {
    if (current) window.dispatchEvent(new CustomEvent("escort:reload-transit"));
  });
  window.addEventListener("resize", () => {
    if (!current || $("transit-view").hidden) return;
    drawTl();
  });
  window.addEventListener("beforeprint", () => { invalidate(); drawTl(); });
  window.addEventListener("afterprint", () => { invalidate(); drawTl(); });
}

function drawTl() {
  const d = current.data;
  drawTimeline($("timeline"), {
    transit: d.transit || {}, report: d.report || {}, track: d.track, times: current.times,
    findings: current.findings, onSelect: (k) => select(k), fit: $("timeline-fit").checked,
  });
  markSelectedBar($("timeline"), current.selected);
}

function drawLegend(track, times) {
  const lg = $("legend");
  lg.replaceChildren();
  if (!times.length) { lg.append(el("span.muted", null, "No fixes yet.")); return; }
  const ramp = el("span.ramp");
  for (let i = 0; i < 16; i++) ramp.append(el("span", { style: `background:${rampColour(i, 16)}` }));
  const sev = el("span.sev-legend");
  for (const [s, c] of Object.entries(SEVERITY_COLOURS)) sev.append(el("span.finding-dot", { style: `background:${c}` }), ` ${s} `);
  const seal = el("span.seal-legend", null, "seal: ");
  for (const s of ["intact", "opened", "cable_cut", "housing_breached", "fault", "unknown"]) {
    seal.append(el("span.seal-swatch", { style: `background:${SEAL_COLOURS[s]}` }), ` ${s.replace("_", " ")} `);
  }
  lg.append(
    el("span", null, "Track: "), timeNode(track.at[0]), " ", ramp, " ", timeNode(track.at[track.at.length - 1]),
    el("span.legend-item", null, el("span.swatch.route"), " declared route"),
    el("span.legend-item", null, el("span.swatch.corridor"), " corridor"),
    el("span.legend-item", null, sev),
    el("span.legend-item", null, seal));
}

function drawShadow(data) {
  const box = $("shadow-findings");
  const body = box.querySelector(".shadow-body");
  body.replaceChildren();
  if (!$("show-shadow").checked) { box.hidden = true; return; }
  box.hidden = false;
  const groups = data.shadow || [];
  if (!groups.length) { body.append(el("p.muted", null, "No shadow policy ran on this transit.")); return; }
  for (const g of groups) {
    const ol = el("ol.shadow-list");
    for (const f of (g.findings || []).slice().sort(byTime)) ol.append(findingItem(f, true));
    body.append(el("h3", null, `${g.policy || "?"}`, el("span.muted", null, ` (seq ${g.seq ?? "?"}) · shadow (not enforced)`)),
      g.findings && g.findings.length ? ol : el("p.muted", null, "no findings"));
  }
}

/** Drop, in place, the rare fix without a usable time or position (all columns alike). */
function dropUnusable(track) {
  const ok = (i) => Number.isFinite(track.lat[i]) && Number.isFinite(track.lon[i]) && !isNaN(Date.parse(track.at[i]));
  let all = true;
  for (let i = 0; i < track.at.length && all; i++) all = ok(i);
  if (all) return;
  const keep = [];
  for (let i = 0; i < track.at.length; i++) if (ok(i)) keep.push(i);
  for (const col of ["at", "lat", "lon", "seal", "battery_pct"]) {
    if (Array.isArray(track[col])) track[col] = keep.map((i) => track[col][i]);
  }
}

/** After the next paint (or 100 ms, for a tab in the background, where frames never come). */
function nextFrame() {
  return new Promise((r) => { requestAnimationFrame(() => r()); setTimeout(r, 100); });
}

/** Empty the view of the previous transit while another one loads. */
function clearView(id) {
  $("t-id").textContent = id;
  $("t-verdict").textContent = "";
  $("t-verdict").className = "badge";
  $("t-facts").replaceChildren();
  $("findings").replaceChildren();
  $("findings-count").textContent = "";
  $("shadow-findings").hidden = true;
  $("rejected").replaceChildren();
  $("legend").replaceChildren();
  $("timeline").replaceChildren();
  clearMap();
}

/**
 * Load and draw transit `id`. With `refresh` the data is fetched again and, only if it changed,
 * redrawn in place keeping the user's map view and selection.
 */
export async function drawTransitView(id, session, refresh = false) {
  wire();
  // Shadow findings are shown only on request: another transit starts without them.
  if (!refresh && current && current.id !== id) {
    $("show-shadow").checked = false;
    clearView(id);
  }
  const data = await api(url(id));
  const sig = signature(data);
  if (refresh && current && current.id === id && current.signature === sig) return;
  const keep = refresh && current && current.id === id;
  const selected = keep ? current.selected : null;

  const track = data.track || { at: [], lat: [], lon: [], seal: [], battery_pct: [], fixes: 0 };
  track.at = track.at || []; track.lat = track.lat || []; track.lon = track.lon || [];
  dropUnusable(track);
  const n = track.at.length;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = Date.parse(track.at[i]);
  data.track = track;
  const findings = ((data.report && data.report.findings) || []).slice().sort(byTime);
  current = { id, data, times, findings, selected, signature: sig };

  // A redraw in place keeps the keyboard focus on the finding that had it.
  const focusedKey = keep && document.activeElement && document.activeElement.matches("#findings li.finding")
    ? document.activeElement.dataset.key : null;
  drawHeader(id, data);
  const ol = $("findings");
  const frag = document.createDocumentFragment();
  for (const f of findings) frag.append(findingItem(f, false));
  ol.replaceChildren(frag);
  $("findings-count").textContent = `(${findings.length})`;
  const rej = (data.report && data.report.rejected) || [];
  $("rejected").replaceChildren(rej.length
    ? el("details.rejected", null, el("summary", null, `${rej.length} refused line${rej.length === 1 ? "" : "s"}`),
      el("ul", null, ...rej.slice(0, 200).map((r) => el("li", null, `line ${r.line}: ${r.reason}`))))
    : "");
  drawShadow(data);

  await ensureMap(session);
  drawTransit(data.transit || {}, track, times, findings, (k) => select(k, false), keep);
  drawLegend(track, times);
  drawTl();
  if (selected) select(selected, false, false);
  if (focusedKey) {
    const li = [...ol.children].find((x) => x.dataset.key === focusedKey);
    if (li) li.focus({ preventScroll: true });
  }
  await nextFrame();
}
