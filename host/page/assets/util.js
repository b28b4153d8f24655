// util.js: what every view shares: the API helper (a 401 sends the page back to sign-in), the
// error banner, DOM building that only ever inserts user strings as text, and time formatting in
// the session's time zone beside UTC.

export class SignedOut extends Error {}

/** GET a JSON answer from /page/api/…; 401 goes back to the sign-in page. */
export async function api(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.status === 401) {
    location.href = "/";
    throw new SignedOut("signed out");
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = `${res.status}: ${body.error}`;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(msg);
  }
  return res.json();
}

/** Show an error in the banner (never a blank page). */
export function showError(err) {
  if (err instanceof SignedOut) return;
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = `Could not load: ${err && err.message ? err.message : err}`;
  box.hidden = false;
}

export function clearError() {
  const box = document.getElementById("error");
  if (box) { box.hidden = true; box.textContent = ""; }
}

/**
 * el("tag.class1.class2", {attr: value, dataset: {...}}, ...children): children that are strings
 * become text nodes, so user strings are never parsed as HTML.
 */
export function el(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag);
  if (classes.length) node.className = classes.join(" ");
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

let zone = "UTC";
let localFmt = null;
let utcFmt = null;

function makeFmt(timeZone) {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
}

export function setTimeZone(tz) {
  try {
    localFmt = makeFmt(tz || "UTC");
    zone = tz || "UTC";
  } catch (_) {
    localFmt = makeFmt("UTC");
    zone = "UTC";
  }
  utcFmt = makeFmt("UTC");
}
setTimeZone("UTC");

export function timeZoneName() { return zone; }

function parts(fmt, d) {
  const p = {};
  for (const x of fmt.formatToParts(d)) p[x.type] = x.value;
  return p;
}

/** "2025-04-08 08:06:13" in the session's zone. */
export function fmtLocal(iso, withSeconds = false) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const p = parts(localFmt, d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${withSeconds ? ":" + p.second : ""}`;
}

/** "02:06 UTC" (with the date when it differs from the local date). */
export function fmtUtc(iso, withSeconds = false) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const p = parts(utcFmt, d);
  const l = parts(localFmt, d);
  const date = (p.year !== l.year || p.month !== l.month || p.day !== l.day) ? `${p.year}-${p.month}-${p.day} ` : "";
  return `${date}${p.hour}:${p.minute}${withSeconds ? ":" + p.second : ""} UTC`;
}

/** A time cell: local time, UTC under it in small print. */
export function timeNode(iso, withSeconds = false) {
  if (!iso) return el("span.muted", null, "—");
  return el("span.time", { title: `${iso}` },
    el("span.local", null, fmtLocal(iso, withSeconds)), " ",
    el("span.utc", null, fmtUtc(iso, withSeconds)));
}

/** "1 h 05 min", "5 min", "40 s". */
export function fmtDuration(ms) {
  if (!isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const mm = m % 60;
  if (h < 48) return `${h} h ${String(mm).padStart(2, "0")} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** Name of an importer given as a string or as {bin, name}. */
export function partyName(p) {
  if (!p) return "—";
  if (typeof p === "string") return p;
  return p.bin ? `${p.name || "?"} (BIN ${p.bin})` : (p.name || "—");
}

export const SEVERITY_ORDER = { critical: 0, violation: 1, warning: 2, info: 3 };
