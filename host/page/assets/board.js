// board.js: the list of transits: counts per verdict, filters, debounced search, the table and
// pagination by cursor (a stack of the `after` cursors already used gives "previous").

import { api, el, timeNode, debounce } from "./util.js";

const state = {
  verdict: "",
  open: "true",
  q: "",
  after: null,   // cursor of the page shown (null = first page)
  stack: [],     // cursors of the pages before it, for "previous"
  nextAfter: null,
  wired: false,
};

function $(id) { return document.getElementById(id); }

function query() {
  const p = new URLSearchParams();
  if (state.verdict) p.set("verdict", state.verdict);
  if (state.open) p.set("open", state.open);
  if (state.q) p.set("q", state.q);
  if (state.after) p.set("after", state.after);
  p.set("limit", "100");
  return `/page/api/transits?${p}`;
}

function resetPages() {
  state.after = null;
  state.stack = [];
}

function wire(reload) {
  if (state.wired) return;
  state.wired = true;
  const fv = $("filter-verdict");
  const fo = $("filter-open");
  const search = $("search");
  fv.addEventListener("change", () => { state.verdict = fv.value; resetPages(); reload(); });
  fo.addEventListener("change", () => { state.open = fo.value; resetPages(); reload(); });
  const onSearch = debounce(() => {
    const q = search.value.trim();
    if (q === state.q) return;
    state.q = q;
    resetPages();
    reload();
  }, 300);
  search.addEventListener("input", onSearch);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); });
  $("next-page").addEventListener("click", () => {
    if (!state.nextAfter) return;
    state.stack.push(state.after);
    state.after = state.nextAfter;
    reload();
  });
  $("prev-page").addEventListener("click", () => {
    if (!state.stack.length) return;
    state.after = state.stack.pop();
    reload();
  });
  // The count buttons are shortcuts for the filters.
  for (const b of document.querySelectorAll(".counts .count")) {
    b.addEventListener("click", () => {
      if (b.dataset.open === "false") {
        state.open = "false"; state.verdict = "";
      } else {
        state.open = "true";
        state.verdict = state.verdict === b.dataset.verdict ? "" : b.dataset.verdict;
      }
      fv.value = state.verdict;
      fo.value = state.open;
      resetPages();
      reload();
    });
  }
}

function badge(verdict) {
  return el(`span.badge.v-${verdict}`, null, verdict);
}

function row(t) {
  const href = `#/transit/${encodeURIComponent(t.id)}`;
  const tr = el("tr", { dataset: { transit: t.id, verdict: t.verdict } },
    el("td", null, el("a.transit-link", { href }, t.id), t.open ? null : el("span.muted.closed-tag", null, " closed")),
    el("td", null, badge(t.verdict)),
    el("td", null, t.vehicle || "—"),
    el("td", null, t.seal_id || "—"),
    el("td", null, t.importer || "—"),
    el("td.route", null, t.departure || "?", el("span.arrow", null, " → "), t.destination || "?"),
    el("td.num", null, String(t.fixes ?? 0)),
    el("td", null, timeNode(t.last_fix_at)),
    el("td", null, timeNode(t.deadline)),
  );
  return tr;
}

/** Load and draw the current page. Returns the `changes` counter the answer carried. */
export async function drawBoard(reload) {
  wire(reload);
  const data = await api(query());
  const c = data.counts || {};
  const open = c.open || {};
  const closed = c.closed || {};
  $("count-violation").textContent = String(open.violation ?? 0);
  $("count-review").textContent = String(open.review ?? 0);
  $("count-clear").textContent = String(open.clear ?? 0);
  $("count-closed").textContent = String((closed.violation ?? 0) + (closed.review ?? 0) + (closed.clear ?? 0));
  for (const b of document.querySelectorAll(".counts .count")) {
    const on = b.dataset.open === "false" ? state.open === "false" && !state.verdict
      : state.open === "true" && state.verdict === b.dataset.verdict;
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  $("filter-verdict").value = state.verdict;
  $("filter-open").value = state.open;

  const tbody = document.querySelector("#transits tbody");
  // A redraw keeps the keyboard focus on the transit link that had it.
  const focused = document.activeElement && document.activeElement.matches("#transits a.transit-link")
    ? document.activeElement.closest("tr").dataset.transit : null;
  const frag = document.createDocumentFragment();
  for (const t of data.transits || []) frag.append(row(t));
  tbody.replaceChildren(frag);
  if (focused !== null) {
    const tr = [...tbody.children].find((x) => x.dataset.transit === focused);
    if (tr) tr.querySelector("a.transit-link").focus({ preventScroll: true });
  }
  $("board-empty").hidden = (data.transits || []).length > 0;

  state.nextAfter = data.next_after || null;
  $("next-page").disabled = !state.nextAfter;
  $("prev-page").disabled = state.stack.length === 0;
  const n = (data.transits || []).length;
  const pageNo = state.stack.length + 1;
  $("page-info").textContent = n ? `page ${pageNo} · ${n} transit${n === 1 ? "" : "s"}` : `page ${pageNo}`;
  return data.changes;
}
