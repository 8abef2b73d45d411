/*
 * "What changed": the report of a refresh (GET /api/crawls/<id>/changes, docs/events.md):
 * counts, then the changed pages, each with its diff in an expandable row, and the lists of new
 * and removed pages. Everything from the server — URLs, titles, diff lines — goes into the page
 * as text (textContent), never as HTML: a diff holds whatever the crawled pages said.
 */

import { getChanges } from "../api.js";
import { clear, el, make, text } from "../dom.js";
import { num } from "../util.js";

const RETRIES = 5;          // the report is made when the refresh ends; a 409 means "not yet"
const RETRY_DELAY_MS = 700;
const LIST_MAX = 500;       // URLs listed per group (the counts say how many there are in all)

let shownFor = null;        // the crawl whose report is on show (or being loaded)

export function resetChanges() {
  shownFor = null;
  el.changes.hidden = true;
  text(el.changesSummary, "");
  clear(el.changesBody);
}

/** Loads and shows the report of refresh `crawlId` (once per crawl on show). */
export function loadChanges(crawlId) {
  if (shownFor === crawlId) return;
  shownFor = crawlId;
  el.changes.hidden = false;
  text(el.changesSummary, "Comparing with the earlier crawl…");
  clear(el.changesBody);
  fetchReport(crawlId, RETRIES);
}

function fetchReport(crawlId, triesLeft) {
  getChanges(crawlId).then(function (report) {
    if (shownFor === crawlId) renderChanges(report);
  }, function (err) {
    if (shownFor !== crawlId) return;
    if (err.status === 409 && triesLeft > 0) {
      setTimeout(function () { fetchReport(crawlId, triesLeft - 1); }, RETRY_DELAY_MS);
      return;
    }
    text(el.changesSummary, "No change report: " + (err.message || "request failed"));
  });
}

/** "1 new · 3 changed · 1 removed · 4 unchanged (4 reused without extraction)", and
 * "· 2 not reached" when the refresh did not get to every page of the earlier crawl. */
export function countsLine(counts) {
  const c = counts && typeof counts === "object" ? counts : {};
  return num(c.new) + " new · " + num(c.changed) + " changed · " + num(c.removed) + " removed · " +
    num(c.unchanged) + " unchanged" + (c.unchecked ? " · " + num(c.unchecked) + " not reached" : "") +
    " (" + num(c.reused) + " reused without extraction)";
}

function diffBlock(diff) {
  const pre = make("pre", "changes-diff");
  String(diff || "").split("\n").forEach(function (line) {
    let cls = "diff-line";
    if (line.startsWith("+++") || line.startsWith("---")) cls += " diff-file";
    else if (line.startsWith("@@")) cls += " diff-hunk";
    else if (line.startsWith("+")) cls += " diff-add";
    else if (line.startsWith("-")) cls += " diff-del";
    pre.appendChild(make("span", cls, line + "\n"));
  });
  return pre;
}

function changedPage(entry) {
  const item = make("details", "changes-page");
  const head = make("summary", "changes-page-head");
  head.appendChild(make("span", "changes-url", entry.url));
  if (entry.title) head.appendChild(make("span", "changes-title muted", " — " + entry.title));
  item.appendChild(head);
  if (entry.note) item.appendChild(make("p", "changes-note muted", entry.note));
  if (entry.diff) item.appendChild(diffBlock(entry.diff));
  return item;
}

function urlGroup(title, urls, className) {
  const list = Array.isArray(urls) ? urls : [];
  const group = make("details", "changes-group " + className);
  group.appendChild(make("summary", null, title + " (" + list.length + ")"));
  const ul = make("ul", "changes-urls");
  list.slice(0, LIST_MAX).forEach(function (url) { ul.appendChild(make("li", null, url)); });
  if (list.length > LIST_MAX) ul.appendChild(make("li", "muted", "… and " + (list.length - LIST_MAX) + " more"));
  group.appendChild(ul);
  return group;
}

export function renderChanges(report) {
  if (!report || typeof report !== "object") return;
  let line = countsLine(report.counts) + " since " + (report.refresh_of || "the earlier crawl");
  if (report.complete === false) line += " — the refresh did not run to its end";
  text(el.changesSummary, line);
  clear(el.changesBody);
  const changed = Array.isArray(report.changed) ? report.changed : [];
  if (changed.length) {
    const box = make("div", "changes-changed");
    box.appendChild(make("h3", null, "Changed pages"));
    changed.forEach(function (entry) {
      if (entry && typeof entry.url === "string") box.appendChild(changedPage(entry));
    });
    el.changesBody.appendChild(box);
  }
  el.changesBody.appendChild(urlGroup("New pages", report.new, "changes-new"));
  const removed = (Array.isArray(report.removed) ? report.removed : []).map(function (entry) {
    return entry && typeof entry === "object" ? entry.url + (entry.why ? " — " + entry.why : "") : String(entry);
  });
  el.changesBody.appendChild(urlGroup("Removed pages", removed, "changes-removed"));
  el.changesBody.appendChild(urlGroup("Unchanged pages", report.unchanged, "changes-unchanged"));
  if (Array.isArray(report.unchecked) && report.unchecked.length) {
    el.changesBody.appendChild(urlGroup("Not reached by this refresh", report.unchecked, "changes-unchecked"));
  }
}
