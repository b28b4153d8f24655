// map.js: the Leaflet map of one transit: borders (or tiles when the session's map_tiles is set),
// the declared route, the corridor band at the transit's width, the zones as circles in metres with
// their names, the track coloured by time, a marker per positioned finding, and the highlighted
// stretch of a selected finding. One map for the page's life, drawn on a canvas for speed; the
// #map data attributes the browser tests read are kept up to date here.

import { el, fmtLocal, fmtUtc } from "./util.js";

const L = window.L;
const TRACK_BUCKETS = 16;

let map = null;
let transitLayer = null;   // everything of the transit shown
let highlight = null;
let corridor = null;
let corridorM = 5000;
let meanLat = 45;
let bordersReady = null;   // promise: the background layer is on the map

/** Colour of bucket i of n: from blue (early) through purple to orange-red (late). */
export function rampColour(i, n) {
  const f = n <= 1 ? 1 : i / (n - 1);
  const hue = 230 - f * 215;          // 230 (blue) … 15 (red-orange)
  return `hsl(${hue.toFixed(0)}, 85%, ${(45 - f * 5).toFixed(0)}%)`;
}

function setData(name, value) {
  document.getElementById("map").dataset[name] = String(value);
}

/** Metres per pixel at `lat` and `zoom` on a 256-pixel Web Mercator tile grid. */
function metresPerPixel(lat, zoom) {
  return 40075016.686 * Math.cos(lat * Math.PI / 180) / Math.pow(2, zoom + 8);
}

function corridorWeight() {
  // corridor_m is the distance allowed on each side of the route, so the band is twice as wide.
  const w = (corridorM * 2) / metresPerPixel(meanLat, map.getZoom());
  return Math.max(1, Math.min(w, 4000));
}

let bordersData = null;

/**
 * Start fetching the borders (the background when there is no tile server) before they are
 * needed, so they load while the transit does. Resolves to the GeoJSON, or null when it failed
 * (the map still works without its background).
 */
export function loadBorders() {
  if (!bordersData) {
    bordersData = fetch("/page/assets/borders.geojson", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
  }
  return bordersData;
}

/** Create the map the first time the transit view is shown (its container must be visible). */
export function ensureMap(session) {
  if (map) { map.invalidateSize(false); return bordersReady; }
  map = L.map("map", { preferCanvas: true, zoomSnap: 0.5, worldCopyJump: false });
  map.attributionControl.setPrefix("Leaflet");
  if (session && session.map_tiles) {
    L.tileLayer(session.map_tiles, { maxZoom: 19 }).addTo(map);
    bordersReady = Promise.resolve();
  } else {
    bordersReady = loadBorders().then((gj) => {
      if (!gj) return;
      L.geoJSON(gj, {
        interactive: false,
        style: { color: "#8a8f98", weight: 1, fillColor: "#eef0e8", fillOpacity: 1, opacity: 0.9 },
      }).addTo(map).bringToBack();
      map.attributionControl.addAttribution("Borders: Natural Earth");
    });
  }
  map.setView([45, 72], 5);
  map.on("zoomend", () => { if (corridor) corridor.setStyle({ weight: corridorWeight() }); });
  map.on("moveend", () => {
    const c = map.getCenter();
    setData("center", `${c.lat.toFixed(5)},${c.lng.toFixed(5)}`);
  });
  transitLayer = L.layerGroup().addTo(map);
  return bordersReady;
}

function zone(z, kind) {
  if (!z || typeof z.lat !== "number" || typeof z.lon !== "number") return null;
  const c = L.circle([z.lat, z.lon], {
    radius: z.radius_m || 500, color: kind === "stop" ? "#7a4fb5" : "#1d6b3a",
    weight: 2, fillOpacity: 0.15, interactive: false,
  });
  const label = el("span", null, z.name || z.id || kind);
  c.bindTooltip(label, { permanent: true, direction: "top", className: `zone-label zone-${kind}`, offset: [0, -4] });
  return c;
}

/**
 * Draw a transit. `track` is the contract's column form; `times` its times in ms (computed once by
 * the caller). Returns the bounds fitted. `keepView` keeps the user's view (a background refresh).
 */
export function drawTransit(transit, track, times, findings, onMarker, keepView) {
  transitLayer.clearLayers();
  highlight = null;
  corridor = null;

  // Route and corridor band.
  const coords = (transit.route && transit.route.coordinates) || [];
  const route = new Array(coords.length);
  let latSum = 0;
  for (let i = 0; i < coords.length; i++) {
    route[i] = [coords[i][1], coords[i][0]];
    latSum += coords[i][1];
  }
  corridorM = typeof transit.corridor_m === "number" && transit.corridor_m > 0 ? transit.corridor_m : 5000;
  const bounds = L.latLngBounds([]);
  if (route.length) {
    meanLat = latSum / route.length;
    corridor = L.polyline(route, {
      color: "#3b7dd8", opacity: 0.18, weight: corridorWeight(), lineCap: "round", lineJoin: "round",
      interactive: false, smoothFactor: 0,
    }).addTo(transitLayer);
    L.polyline(route, { color: "#1f4e9c", weight: 2, opacity: 0.9, dashArray: "6 4", interactive: false, smoothFactor: 0 })
      .addTo(transitLayer);
    bounds.extend(L.latLngBounds(route));
  } else {
    meanLat = transit.departure && typeof transit.departure.lat === "number" ? transit.departure.lat : 45;
  }
  setData("routePoints", route.length);

  // Zones: departure, destination, stops.
  let zones = 0;
  for (const [z, kind] of [[transit.departure, "departure"], [transit.destination, "destination"]]) {
    const c = zone(z, kind);
    if (c) { c.addTo(transitLayer); zones++; bounds.extend(c.getLatLng()); }
  }
  for (const s of transit.stops || []) {
    const c = zone({ ...s, name: s.name || s.id }, "stop");
    if (c) { c.addTo(transitLayer); zones++; }
  }
  setData("zones", zones);

  // Track: split into TRACK_BUCKETS polylines by time, each sharing its first point with the
  // previous one so the line is continuous; every point is drawn (smoothFactor 0).
  const n = track.lat.length;
  let drawn = 0;
  if (n) {
    const t0 = times[0];
    const span = Math.max(1, times[n - 1] - t0);
    let start = 0;
    let tMinLat = Infinity, tMaxLat = -Infinity, tMinLon = Infinity, tMaxLon = -Infinity;
    for (let b = 0; b < TRACK_BUCKETS && start < n; b++) {
      const limit = b === TRACK_BUCKETS - 1 ? Infinity : t0 + span * (b + 1) / TRACK_BUCKETS;
      const pts = [];
      if (start > 0) pts.push([track.lat[start - 1], track.lon[start - 1]]);
      let i = start;
      for (; i < n && (times[i] < limit || b === TRACK_BUCKETS - 1); i++) {
        const la = track.lat[i], lo = track.lon[i];
        pts.push([la, lo]);
        if (la < tMinLat) tMinLat = la;
        if (la > tMaxLat) tMaxLat = la;
        if (lo < tMinLon) tMinLon = lo;
        if (lo > tMaxLon) tMaxLon = lo;
      }
      drawn += i - start;
      if (i > start) {
        L.polyline(pts, { color: rampColour(b, TRACK_BUCKETS), weight: 3, opacity: 0.95, smoothFactor: 0, interactive: false })
          .addTo(transitLayer);
      }
      start = i;
    }
    if (n === 1) {
      L.circleMarker([track.lat[0], track.lon[0]], { radius: 4, color: rampColour(0, 1), interactive: false }).addTo(transitLayer);
    }
    if (isFinite(tMinLat)) bounds.extend([[tMinLat, tMinLon], [tMaxLat, tMaxLon]]);
  }
  setData("trackPoints", drawn);

  // Finding markers.
  let markers = 0;
  for (const f of findings) {
    if (typeof f.lat !== "number" || typeof f.lon !== "number") continue;
    const icon = L.divIcon({ className: `finding-marker sev-${f.severity}`, iconSize: [16, 16], iconAnchor: [8, 8] });
    const m = L.marker([f.lat, f.lon], { icon, title: `${f.severity}: ${f.code}`, keyboard: false, riseOnHover: true });
    const pop = el("div.finding-popup", null,
      el("strong", null, f.code), el("br"), f.message || "", el("br"),
      el("span.muted", null, `${fmtLocal(f.from)} (${fmtUtc(f.from)})`));
    m.bindPopup(pop);
    m.on("click", () => onMarker && onMarker(f.key));
    m.addTo(transitLayer);
    markers++;
  }
  setData("findingMarkers", markers);
  setData("highlightPoints", 0);

  if (!keepView) {
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24], animate: false, maxZoom: 15 });
  }
  return bounds;
}

/** First index with times[i] >= t. */
function lowerBound(times, t) {
  let lo = 0, hi = times.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (times[mid] < t) lo = mid + 1; else hi = mid; }
  return lo;
}

/**
 * Highlight the track between `from` and `to` (inclusive) and move the map to the finding:
 * centred on its position when it has one, else fitted to the stretch.
 */
export function selectOnMap(f, track, times, move = true) {
  if (highlight) { transitLayer.removeLayer(highlight); highlight = null; }
  let count = 0;
  if (f) {
    const a = Date.parse(f.from), b = Date.parse(f.to || f.from);
    let i = lowerBound(times, a);
    let j = lowerBound(times, b + 1); // exclusive
    if (j <= i && times.length) {
      // No fix inside an instant finding: its stretch is the fix nearest to it.
      const k = i >= times.length ? times.length - 1
        : (i > 0 && a - times[i - 1] < times[i] - a ? i - 1 : i);
      i = k; j = k + 1;
    }
    const pts = [];
    for (let k = i; k < j; k++) pts.push([track.lat[k], track.lon[k]]);
    count = pts.length;
    if (pts.length === 1) {
      highlight = L.circleMarker(pts[0], { radius: 9, color: "#ffd400", weight: 4, fillOpacity: 0.3, interactive: false })
        .addTo(transitLayer);
    } else if (pts.length) {
      highlight = L.polyline(pts, { color: "#ffd400", weight: 9, opacity: 0.85, smoothFactor: 0, interactive: false, lineCap: "round" })
        .addTo(transitLayer);
    }
    if (move) {
      if (typeof f.lat === "number" && typeof f.lon === "number") {
        map.setView([f.lat, f.lon], Math.max(map.getZoom(), 11), { animate: false });
      } else if (pts.length) {
        map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], animate: false, maxZoom: 13 });
      }
    }
  }
  setData("highlightPoints", count);
}

/** Take the previous transit off the map (while another loads, or when it failed to load). */
export function clearMap() {
  if (!transitLayer) return;
  transitLayer.clearLayers();
  highlight = null;
  corridor = null;
  for (const k of ["trackPoints", "routePoints", "zones", "findingMarkers", "highlightPoints"]) setData(k, 0);
}

export function invalidate() { if (map) map.invalidateSize(false); }
