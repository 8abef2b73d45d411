/* The page list: one row per URL (newest first), updated in place from the state's page records. */

import { el, make, text } from "../dom.js";
import { SOURCES } from "../state.js";
import { isHttpUrl, isIn } from "../util.js";

const rows = new Map(); // url → row element

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

function updateRow(row, rec) {
  const parts = row._parts;
  row._rec = rec;
  if (rec.unfinished) {
    row.className = "page-row status-unfinished";
    text(parts.status, "unfinished");
  } else {
    row.className = "page-row status-" + rec.status + (rec.stage ? " stage-" + rec.stage : "");
    text(parts.status, rec.label);
  }
  parts.status.title = rec.label;
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

/** Brings the list in line with `pages` ({order, byUrl} of the state). */
export function renderPages(pages) {
  rows.forEach(function (row, url) {
    if (!Object.prototype.hasOwnProperty.call(pages.byUrl, url)) {
      rows.delete(url);
      row.remove();
    }
  });
  let cursor = el.pageList.firstElementChild;
  for (let i = 0; i < pages.order.length; i++) {
    const url = pages.order[i];
    const rec = pages.byUrl[url];
    let row = rows.get(url);
    if (!row) {
      row = makePageRow(url);
      rows.set(url, row);
    }
    if (row._rec !== rec) updateRow(row, rec);
    if (row === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      el.pageList.insertBefore(row, cursor);
    }
  }
}
