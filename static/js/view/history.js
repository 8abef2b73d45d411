/* "Your crawls": the session's crawls, with Show / Resume buttons and download links. */

import { el, make, text, clear } from "../dom.js";
import { STATE_RANK, isTerminal } from "../state.js";
import { downloadPath, formatDateTime, isLocalPath, num } from "../util.js";
import { DOWNLOAD_FORMATS } from "./progress.js";

function has(state) { return Object.prototype.hasOwnProperty.call(STATE_RANK, state); }

function countsText(c, kind) {
  return num(c.ok) + (kind === "discovery" ? " fetched · " : " ok · ") + num(c.failed) + " failed · " +
    num(c.skipped) + " skipped";
}

/** Download links of a crawl: the server's own (`downloads` of a summary row) when it sent them. */
function appendHistoryDownloads(actions, crawlId, links) {
  const given = links && typeof links === "object" ? links : {};
  DOWNLOAD_FORMATS.forEach(function (f) {
    const a = make("a", "history-download history-" + f.key, f.key);
    a.href = isLocalPath(given[f.key]) ? given[f.key] : downloadPath(crawlId, f.key);
    actions.appendChild(a);
  });
}

export function renderHistory(crawls, currentId) {
  const frag = document.createDocumentFragment();
  crawls.forEach(function (c) {
    if (!c || typeof c.crawl_id !== "string") return;
    const state = typeof c.state === "string" ? c.state : "unknown";
    const kind = c.kind === "discovery" ? "discovery" : "crawl";
    const row = make("li", "history-row kind-" + kind);
    row.setAttribute("data-crawl-id", c.crawl_id);
    row.setAttribute("data-state", state);
    row.setAttribute("data-kind", kind);

    const top = make("div", "history-top");
    top.appendChild(make("span", "badge badge-" + (has(state) ? state : "unknown"), state));
    if (kind === "discovery") top.appendChild(make("span", "kind-badge", "discovery"));
    if (typeof c.refresh_of === "string") {
      const badge = make("span", "kind-badge refresh-badge", "refresh");
      badge.title = "Refresh of " + c.refresh_of;
      top.appendChild(badge);
    }
    const url = make("span", "history-url", c.url || c.crawl_id);
    url.title = c.url || "";
    top.appendChild(url);
    row.appendChild(top);

    const meta = make("div", "history-meta");
    meta.appendChild(make("span", "history-time", formatDateTime(c.created_at)));
    meta.appendChild(make("span", "history-counts", countsText(c, kind)));
    row.appendChild(meta);

    const actions = make("div", "history-actions");
    const show = make("button", "link-btn history-show", "Show");
    show.type = "button";
    show.setAttribute("data-crawl-id", c.crawl_id);
    if (kind === "discovery") show.title = "Show this discovery and the pages it found";
    actions.appendChild(show);
    if (kind === "crawl") {
      const read = make("button", "link-btn history-read", "Read");
      read.type = "button";
      read.setAttribute("data-crawl-id", c.crawl_id);
      read.title = "Open the pages this crawl saved in the reader";
      actions.appendChild(read);
    }
    const handled = num(c.ok) + num(c.failed) + num(c.skipped);
    // Offered exactly when the server would resume it (`resumable`: stopped, interrupted, or
    // failed on a full disk), never by a rule of the page's own.
    if (c.resumable === true) {
      const resume = make("button", "link-btn history-resume", "Resume");
      resume.type = "button";
      resume.setAttribute("data-crawl-id", c.crawl_id);
      resume.title = "Continue where it stopped; pages already saved are not fetched again";
      actions.appendChild(resume);
    }
    if (kind === "crawl" && isTerminal(state) && handled > 0) appendHistoryDownloads(actions, c.crawl_id, c.downloads);
    row.appendChild(actions);
    frag.appendChild(row);
  });
  clear(el.history);
  el.history.appendChild(frag);
  markHistoryCurrent(currentId);
}

function historyRow(crawlId) {
  const rows = el.history.children;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].getAttribute("data-crawl-id") === crawlId) return rows[i];
  }
  return null;
}

export function markHistoryCurrent(crawlId) {
  const rows = el.history.children;
  for (let i = 0; i < rows.length; i++) {
    rows[i].classList.toggle("current", rows[i].getAttribute("data-crawl-id") === crawlId);
  }
}

/** Keeps the shown crawl's row in step with its live progress. */
export function updateHistoryCounts(crawlId, p) {
  const row = historyRow(crawlId);
  if (!row || isTerminal(row.getAttribute("data-state"))) return;
  const counts = row.querySelector(".history-counts");
  if (counts) text(counts, countsText(p, row.getAttribute("data-kind")));
  const state = typeof p.state === "string" && has(p.state) ? p.state : null;
  const rowState = row.getAttribute("data-state");
  const badge = row.querySelector(".badge");
  if (state && badge && !isTerminal(state) && (!has(rowState) || STATE_RANK[state] > STATE_RANK[rowState])) {
    text(badge, state);
    badge.className = "badge badge-" + state;
    row.setAttribute("data-state", state);
  }
}

/** Shows the end of the crawl on show in its row at once (the list refresh follows). */
export function updateHistoryFromSummary(crawlId, kind, summary) {
  const row = historyRow(crawlId);
  if (!row) return;
  const state = summary.state;
  row.setAttribute("data-state", state);
  const badge = row.querySelector(".badge");
  if (badge) {
    text(badge, state);
    badge.className = "badge badge-" + state;
  }
  const counts = row.querySelector(".history-counts");
  if (counts && summary.ok !== undefined) text(counts, countsText(summary, kind));
  const actions = row.querySelector(".history-actions");
  const handled = num(summary.ok) + num(summary.failed) + num(summary.skipped);
  if (actions && handled > 0 && kind === "crawl" && !actions.querySelector(".history-download")) {
    appendHistoryDownloads(actions, crawlId, summary.downloads);
  }
}
