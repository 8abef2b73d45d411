/*
 * The "Server" panel: what GET /api/system says about the server (docs/events.md): memory and
 * CPU of the server process (with multiprocessing's helper processes), of its extraction workers and of its search indexer, crawl slots used and free, and the
 * crawls running and waiting (this session's and everyone's). Asked again every few seconds
 * while the panel is on screen and the tab is visible; a failed request says so and shows no
 * number (an old figure would pass for a current one).
 */

import { api } from "../api.js";
import { $, clear, make, text } from "../dom.js";
import { errorMessage, formatClock, isNum } from "../util.js";

export const SYSTEM_POLL_MS = 3000;

const panel = $("server-panel");
const stats = $("server-stats");
const errorLine = $("server-error");
const updated = $("server-updated");

let timer = null;
let inFlight = false;
let onScreen = true;

/** 1536 → "1.5 KB", 734003200 → "700 MB" (binary units, as the memory guard counts). */
export function formatBytes(bytes) {
  if (!isNum(bytes) || bytes < 0) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return (i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}

function percent(v) {
  return isNum(v) ? v.toFixed(v >= 10 ? 0 : 1) + " % CPU" : "CPU —";
}

function count(v) { return isNum(v) ? String(v) : "—"; }

/** One line of the panel: a term, its value, and a key for tests and styles. */
function row(key, term, value, title) {
  const wrap = make("div", "server-row");
  wrap.setAttribute("data-key", key);
  wrap.appendChild(make("dt", null, term));
  const dd = make("dd", null, value);
  if (title) dd.title = title;
  wrap.appendChild(dd);
  return wrap;
}

function sum(rows, field) {
  return rows.reduce(function (total, r) { return total + (isNum(r[field]) ? r[field] : 0); }, 0);
}

/** The rows of one /api/system answer. */
export function systemRows(data) {
  const rows = [];
  const server = data.server && typeof data.server === "object" ? data.server : null;
  const workers = Array.isArray(data.workers) ? data.workers.filter(function (w) { return w && typeof w === "object"; }) : [];
  // multiprocessing's fork server and resource tracker: part of the server, not extraction workers.
  const helpers = Array.isArray(data.helpers) ? data.helpers.filter(function (h) { return h && typeof h === "object"; }) : [];
  const own = server ? [server].concat(helpers) : [];
  rows.push(["server", "Server process", server
    ? formatBytes(sum(own, "memory_bytes")) + " · " + percent(sum(own, "cpu_percent")) : "—",
  server ? "pid " + server.pid + (helpers.length
    ? ", with its multiprocessing helpers (fork server, resource tracker): pid " +
      helpers.map(function (h) { return h.pid; }).join(", ") : "") +
    "; memory is PSS where Linux gives it, else RSS; 100 % = one core" : ""]);
  if (data.mode === "cluster") {
    rows.push(["workers", "Workers", "not reported here (they run on the cluster's workers)", ""]);
  } else {
    rows.push(["workers", "CPU workers", workers.length
      ? workers.length + " · " + formatBytes(sum(workers, "memory_bytes")) + " · " + percent(sum(workers, "cpu_percent"))
      : "none running", workers.map(function (w) { return "pid " + w.pid + ": " + formatBytes(w.memory_bytes); }).join(", ")]);
    const browser = Array.isArray(data.browser) ? data.browser.filter(function (b) { return b && typeof b === "object"; }) : [];
    rows.push(["browser", "Browser", browser.length
      ? browser.length + " processes · " + formatBytes(sum(browser, "memory_bytes")) + " · " + percent(sum(browser, "cpu_percent"))
      : "not running (started when a page needs JavaScript)", ""]);
  }
  // The search index's writer, when it is a process of its own (--search-indexer process).
  const indexer = Array.isArray(data.indexer) ? data.indexer.filter(function (i) { return i && typeof i === "object"; }) : [];
  if (indexer.length) {
    rows.push(["indexer", "Search indexer", formatBytes(sum(indexer, "memory_bytes")) + " · " + percent(sum(indexer, "cpu_percent")),
      "pid " + indexer.map(function (i) { return i.pid; }).join(", ") + "; a lower CPU priority than the crawl's processes"]);
  }
  const guard = data.memory_guard && typeof data.memory_guard === "object" ? data.memory_guard : null;
  rows.push(["memory", "Memory in all", formatBytes(data.memory_bytes) +
    (guard ? " · limit " + formatBytes(guard.limit_bytes) + (guard.paused ? " · crawling paused" : "") : ""),
  guard && guard.reason ? guard.reason : ""]);
  const slots = data.slots && typeof data.slots === "object" ? data.slots : {};
  rows.push(["slots", "Crawl slots", isNum(slots.total)
    ? count(slots.used) + " of " + slots.total + " used · " + count(slots.free) + " free" : "unknown", ""]);
  const queues = data.queues && typeof data.queues === "object" ? data.queues : {};
  const yours = queues.yours && typeof queues.yours === "object" ? queues.yours : null;
  rows.push(["yours", "Your crawls", yours
    ? (isNum(yours.running) ? yours.running + " running · " : "") + count(yours.queued) + " waiting"
    : "unknown (the shared queue cannot be reached)", ""]);
  const total = queues.total && typeof queues.total === "object" ? queues.total : {};
  rows.push(["total", "All crawls", (isNum(total.running) ? total.running + " running · " : "") +
    count(total.queued) + " waiting", ""]);
  if (isNum(total.sessions)) {
    rows.push(["sessions", "Active sessions", String(total.sessions), "sessions with a crawl running or waiting"]);
  }
  return rows;
}

function render(data) {
  const frag = document.createDocumentFragment();
  systemRows(data).forEach(function (r) { frag.appendChild(row(r[0], r[1], r[2], r[3])); });
  clear(stats);
  stats.appendChild(frag);
  errorLine.hidden = true;
  text(errorLine, "");
  panel.setAttribute("data-state", "ok");
  text(updated, "updated " + formatClock(new Date().toISOString()));
}

function renderError(err) {
  clear(stats); // no stale number
  text(errorLine, "Could not read the server's state: " + errorMessage(err, "no answer") +
    ". Trying again every " + SYSTEM_POLL_MS / 1000 + " s.");
  errorLine.hidden = false;
  panel.setAttribute("data-state", "error");
  text(updated, "");
}

function refresh() {
  if (inFlight) return;
  inFlight = true;
  api("GET", "/api/system").then(render, renderError).then(function () { inFlight = false; });
}

function visible() {
  return onScreen && document.visibilityState !== "hidden";
}

function schedule() {
  if (visible() && !timer) {
    refresh();
    timer = setInterval(refresh, SYSTEM_POLL_MS);
  } else if (!visible() && timer) {
    clearInterval(timer);
    timer = null;
  }
}

export function initServerPanel() {
  if (!panel) return;
  document.addEventListener("visibilitychange", schedule);
  if (typeof IntersectionObserver === "function") {
    new IntersectionObserver(function (entries) {
      onScreen = entries.some(function (e) { return e.isIntersecting; });
      schedule();
    }).observe(panel);
  }
  schedule();
}
