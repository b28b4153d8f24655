// app.js: the app shell of the officers' page: who is signed in, hash routing between the board
// (#/) and one transit (#/transit/ID), body[data-ready] for the browser tests, and the poll that
// keeps the view current.
//
// Updates are polled, not pushed by server-sent events: the server's connections are bounded, and
// an SSE stream would hold one open per officer's tab, while polling a counter costs one tiny
// request every 5 s. GET /page/api/changes answers {"changes": N}; when N moved, the view shown
// is redrawn in place (the board's current page; the transit only if its data changed).

import { api, showError, clearError, setTimeZone, SignedOut } from "./util.js";
import { drawBoard } from "./board.js";
import { drawTransitView } from "./transit.js";
import { loadBorders } from "./map.js";

const POLL_MS = 5000;
let session = null;
let lastChanges = null;
let generation = 0;   // bumps on each navigation, so a late answer for an old view is dropped
let busy = false;

function $(id) { return document.getElementById(id); }

function route() {
  const h = location.hash || "#/";
  const m = /^#\/transit\/(.+)$/.exec(h);
  if (m) {
    let id;
    try { id = decodeURIComponent(m[1]); } catch (_) { id = m[1]; }
    return { view: "transit", id };
  }
  return { view: "board" };
}

function showView(view) {
  $("board-view").hidden = view !== "board";
  $("transit-view").hidden = view !== "transit";
}

async function draw(background = false) {
  const gen = ++generation;
  const r = route();
  if (!background) {
    delete document.body.dataset.ready;
    clearError();
    $("loading").hidden = false;
  }
  busy = true;
  try {
    showView(r.view);
    if (r.view === "board") {
      document.title = "Escort: transits";
      const changes = await drawBoard(() => draw(false));
      if (gen !== generation) return;
      if (typeof changes === "number") lastChanges = changes;
    } else {
      document.title = `Escort: ${r.id}`;
      await drawTransitView(r.id, session, background);
      if (gen !== generation) return;
      if (!background) performance.mark("escort-drawn");
    }
    if (background) clearError();
    document.body.dataset.ready = r.view;
  } catch (e) {
    if (gen === generation) showError(e);
  } finally {
    if (gen === generation) { $("loading").hidden = true; busy = false; }
  }
}

async function poll() {
  if (busy || document.hidden) return;
  try {
    const { changes } = await api("/page/api/changes");
    if (lastChanges === null) { lastChanges = changes; return; }
    if (changes !== lastChanges) {
      lastChanges = changes;
      await draw(true);
    }
  } catch (e) {
    if (!(e instanceof SignedOut)) showError(e);
  }
}

async function start() {
  try {
    session = await api("/page/api/session");
  } catch (e) {
    showError(e);
    return;
  }
  if (!session.map_tiles) loadBorders();
  setTimeZone(session.timezone || "UTC");
  $("whoami").textContent = `${session.name || "?"} (${session.role || "?"})`;
  window.addEventListener("hashchange", () => draw(false));
  window.addEventListener("escort:reload-transit", () => draw(false));
  await draw(false);
  setInterval(poll, POLL_MS);
}

window.addEventListener("error", (e) => showError(e.error || e.message));
window.addEventListener("unhandledrejection", (e) => showError(e.reason));
start();
