/*
 * The page list of the crawl on show: one record per URL, newest first, at most PAGE_ROWS_MAX,
 * and the links refused at admission in a list of their own. Pure functions for the reducer.
 */

import { isIn, isNum } from "../util.js";

export const PAGE_ROWS_MAX = 200;      // rows kept in the page list
export const STAGES = ["fetching", "rendering", "parsing", "extracting", "storing", "done"];
export const PAGE_STATUSES = ["active", "ok", "failed", "skipped"];
export const REFUSAL_LABELS = { robots: "robots", out_of_scope: "out of scope", filtered: "filtered" };

export function emptyPages() { return { order: [], byUrl: {} }; }  // order: newest first

/** How far a transition is: a stage's index while active, past every stage once finished. */
function pageRank(status, stage) {
  if (status !== "active") return STAGES.length;
  const i = STAGES.indexOf(stage);
  return i === -1 ? 0 : i;
}

/**
 * A page's record after one more transition. A page only moves forward: a transition replayed
 * from `recent_pages` or held while the crawl's details loaded never takes it back to an
 * earlier stage (the old record is returned as it is).
 */
export function mergePage(prev, page) {
  const status = isIn(PAGE_STATUSES, page.status) ? page.status : "active";
  const stage = isIn(STAGES, page.stage) ? page.stage : "";
  const rank = pageRank(status, stage);
  if (prev && rank < prev.rank) return prev;
  const reason = status !== "active" && status !== "ok" && typeof page.reason === "string" && page.reason ? page.reason : "";
  // Only the first transition of a page names its source; later ones may leave it null.
  const hasSource = typeof page.source === "string" && page.source;
  const hasTitle = page.title !== null && page.title !== undefined && page.title !== "";
  return {
    url: page.url,
    status: status,
    stage: stage,
    rank: rank,
    label: status === "active" ? (page.stage || "active") : page.status + (reason ? " · " + reason : ""),
    reason: reason,
    source: hasSource ? page.source : (prev ? prev.source : ""),
    title: hasTitle ? String(page.title) : (prev ? prev.title : ""),
    error: page.error ? String(page.error) : "",
    depth: isNum(page.depth) ? page.depth : (prev ? prev.depth : null),
    unfinished: false
  };
}

/** A link refused at admission (robots, out of scope, filtered): never a page of the crawl. */
export function isRefusedPage(page) {
  return !!page && page.status === "skipped" && typeof page.reason === "string" &&
    Object.prototype.hasOwnProperty.call(REFUSAL_LABELS, page.reason);
}

/** Page transitions go to the page list; refused links to their own list, so that thousands of
 * them never push the crawl's pages out of the last PAGE_ROWS_MAX rows. Returns both stores
 * (each the same object when nothing of it changed). */
export function addPages(pages, refusedPages, list) {
  const all = Array.isArray(list) ? list : [];
  const kept = [];
  const refused = [];
  all.forEach(function (page) { (isRefusedPage(page) ? refused : kept).push(page); });
  return {
    pages: kept.length ? mergePages(pages, kept) : pages,
    refusedPages: refused.length ? mergePages(refusedPages, refused) : refusedPages
  };
}

function mergePages(store, list) {
  let pages = list;
  if (pages.length > PAGE_ROWS_MAX * 2) pages = pages.slice(pages.length - PAGE_ROWS_MAX * 2);
  const byUrl = Object.assign({}, store.byUrl);
  const fresh = [];
  for (let i = 0; i < pages.length; i++) {
    const page = pages[i];
    if (!page || typeof page.url !== "string") continue;
    const prev = Object.prototype.hasOwnProperty.call(byUrl, page.url) ? byUrl[page.url] : null;
    if (!prev) fresh.push(page.url);
    byUrl[page.url] = mergePage(prev, page);
  }
  // Newest first; the oldest rows go beyond PAGE_ROWS_MAX.
  const order = fresh.reverse().concat(store.order);
  while (order.length > PAGE_ROWS_MAX) delete byUrl[order.pop()];
  return { order: order, byUrl: byUrl };
}

/** Pages still in a stage when the crawl ends never finished (e.g. abandoned on stop). */
export function markUnfinished(pages) {
  let byUrl = null;
  pages.order.forEach(function (url) {
    const rec = pages.byUrl[url];
    if (rec.status !== "active" || rec.unfinished) return;
    if (!byUrl) byUrl = Object.assign({}, pages.byUrl);
    byUrl[url] = Object.assign({}, rec, { unfinished: true });
  });
  return byUrl ? { order: pages.order, byUrl: byUrl } : pages;
}
