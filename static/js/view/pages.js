/*
 * The page list: one row per URL (newest first), updated in place from the state's page records.
 *
 * A filter picks what the list shows: all pages of the crawl, only saved, failed or skipped ones,
 * or the links refused at admission (robots, out of scope, filtered). Refused links are not pages
 * of the crawl: they have their own record list in the state and only that filter shows them.
 */

import { $, el, make, text } from "../dom.js";
import { REFUSAL_LABELS, SOURCES } from "../state.js";
import { isHttpUrl, isIn } from "../util.js";

export const PAGE_FILTERS = ["all", "ok", "failed", "skipped", "refused"];

const EMPTY_NOTES = {
  all: "No pages yet.",
  ok: "No saved pages among the last 200.",
  failed: "No failed pages among the last 200.",
  skipped: "No skipped pages among the last 200.",
  refused: "No links refused at admission (robots.txt, out of scope, filtered)."
};

const filterSelect = $("page-filter");
const emptyNote = $("page-list-empty");

const pageRows = new Map();    // url → row element, pages of the crawl
const refusedRows = new Map(); // url → row element, links refused at admission
let filter = "all";
let last = { pages: { order: [], byUrl: {} }, refused: { order: [], byUrl: {} } };

function makePageRow(url) {
  const row = make("li", "page-row");
  row.setAttribute("data-url", url);
  const status = make("span", "page-status");
  const main = make("div", "page-main");
  let link;
  if (isHttpUrl(url)) {
    link = make("a", "page-url", url);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  } else {
    link = make("span", "page-url", url);
  }
  link.title = url;
  const title = make("span", "page-title");
  const source = make("span", "source-badge page-source");
  const error = make("span", "page-error");
  main.appendChild(link);
  main.appendChild(title);
  main.appendChild(source);
  main.appendChild(error);
  row.appendChild(status);
  row.appendChild(main);
  row._parts = { status: status, title: title, source: source, error: error };
  row._rec = null;
  return row;
}

function updateRow(row, rec, refused) {
  const parts = row._parts;
  row._rec = rec;
  if (refused) {
    row.className = "page-row status-refused";
    const label = Object.prototype.hasOwnProperty.call(REFUSAL_LABELS, rec.reason) ? REFUSAL_LABELS[rec.reason] : rec.reason;
    text(parts.status, "not followed · " + label);
    parts.status.title = "refused at admission: " + label;
    row.setAttribute("data-refused", "true");
  } else if (rec.unfinished) {
    row.className = "page-row status-unfinished";
    text(parts.status, "unfinished");
    parts.status.title = rec.label;
  } else {
    row.className = "page-row status-" + rec.status + (rec.stage ? " stage-" + rec.stage : "");
    text(parts.status, rec.label);
    parts.status.title = rec.label;
  }
  if (rec.reason) row.setAttribute("data-reason", rec.reason);
  else row.removeAttribute("data-reason");
  if (rec.source) {
    text(parts.source, rec.source);
    parts.source.setAttribute("data-source", isIn(SOURCES, rec.source) ? rec.source : "other");
    row.setAttribute("data-source", rec.source);
  }
  if (rec.title) text(parts.title, rec.title);
  text(parts.error, rec.error);
  if (rec.depth !== null) row.setAttribute("data-depth", String(rec.depth));
}

/** Rows of `store` ({order, byUrl}) kept in `rows`: made or updated, dropped when gone. */
function syncRows(rows, store, refused) {
  rows.forEach(function (row, url) {
    if (!Object.prototype.hasOwnProperty.call(store.byUrl, url)) {
      rows.delete(url);
      row.remove();
    }
  });
  for (let i = 0; i < store.order.length; i++) {
    const url = store.order[i];
    const rec = store.byUrl[url];
    let row = rows.get(url);
    if (!row) {
      row = makePageRow(url);
      rows.set(url, row);
    }
    if (row._rec !== rec) updateRow(row, rec, refused);
  }
}

function shown(rec) {
  if (filter === "all") return true;
  return !rec.unfinished && rec.status === filter;
}

/** Puts exactly the rows the filter selects into the list, in the store's order. */
function place() {
  const refused = filter === "refused";
  const store = refused ? last.refused : last.pages;
  const rows = refused ? refusedRows : pageRows;
  const wanted = [];
  for (let i = 0; i < store.order.length; i++) {
    const url = store.order[i];
    if (refused || shown(store.byUrl[url])) wanted.push(rows.get(url));
  }
  const keep = new Set(wanted);
  Array.prototype.slice.call(el.pageList.children).forEach(function (row) {
    if (!keep.has(row)) row.remove();
  });
  let cursor = el.pageList.firstElementChild;
  wanted.forEach(function (row) {
    if (row === cursor) cursor = cursor.nextElementSibling;
    else el.pageList.insertBefore(row, cursor);
  });
  el.pageList.setAttribute("data-filter", filter);
  text(emptyNote, EMPTY_NOTES[filter]);
}

/** The count of refused links in the filter's own option, so it is seen without opening it. */
function labelRefusedOption() {
  const option = filterSelect && filterSelect.querySelector('option[value="refused"]');
  if (!option) return;
  const n = last.refused.order.length;
  text(option, "links not followed" + (n ? " (" + n + (n >= 200 ? "+" : "") + ")" : ""));
}

/** Brings the list in line with the state's `pages` and `refusedPages` ({order, byUrl}). */
export function renderPages(pages, refusedPages) {
  const refused = refusedPages || { order: [], byUrl: {} };
  if (pages !== last.pages) syncRows(pageRows, pages, false);
  if (refused !== last.refused) syncRows(refusedRows, refused, true);
  last = { pages: pages, refused: refused };
  labelRefusedOption();
  place();
}

export function initPages() {
  if (!filterSelect) return;
  filterSelect.value = filter;
  filterSelect.addEventListener("change", function () {
    filter = isIn(PAGE_FILTERS, filterSelect.value) ? filterSelect.value : "all";
    place();
  });
}
