/*
 * The dashboard's state and its one reducer: `reduce(state, action)` returns a new state and
 * never touches the page, the network or the clock, so every rule below is tested in Node
 * (tests/js/). Actions are the server's events (docs/events.md) and the page's own steps:
 *
 *   {type: "event", name: "crawler_status" | "crawler_detailed_progress" | "crawler_page" |
 *          "crawler_log" | "crawler_finished", payload}
 *   {type: "start_requested", kind}          {type: "start_succeeded", crawlId, kind}
 *   {type: "start_failed", message, refreshHistory}
 *   {type: "load_begin", crawlId, refresh, state, kind}   GET /api/crawls/<id> is on its way
 *   {type: "details_loaded", token, data, refresh}        … and its answer
 *   {type: "details_failed", token, status, message}
 *   {type: "load_done", token}                             events held meanwhile are replayed
 *   {type: "stop_requested"}                 {type: "stop_answered", crawlId, ok, state, error}
 *   {type: "resume_requested"}               {type: "resume_answered", crawlId, kind, ok, state, error}
 *   {type: "refresh_requested"}              {type: "refresh_answered", crawlId, ok, state, error}
 *   {type: "crawls_listed", crawls}          {type: "crawls_list_failed", message}
 *   {type: "history_listed", crawls}         the crawl list was refreshed (its `resumable` counts)
 *   {type: "series_cache_loaded", cache}     speed histories kept by this browser (see addSample)
 *   {type: "manifest_loaded", token, entries} a crawl's manifest, for a speed history this browser lacks
 *   {type: "form_error", message}
 *
 * What the page must do in turn (fetch, list crawls, fill the form…) is returned in
 * `state.effects`, a fresh list for every call: see `effect()`.
 */

import { formatDuration, isIn, isNum, num } from "./util.js";
import { LOG_LINES_MAX, addLog, emptyLog } from "./state/log.js";
import {
  PAGE_ROWS_MAX, PAGE_STATUSES, REFUSAL_LABELS, STAGES, addPages, emptyPages, isRefusedPage, markUnfinished, mergePage
} from "./state/pages.js";
import {
  SERIES_CACHE_MAX, SERIES_MAX, SERIES_STEP, addSample, cacheSeries, emptySeries, seriesFromManifest, validSeriesCache
} from "./state/series.js";

// The parts, for the views and the tests that know the reducer's module only.
export {
  LOG_LINES_MAX, PAGE_ROWS_MAX, PAGE_STATUSES, REFUSAL_LABELS, SERIES_CACHE_MAX, SERIES_MAX, SERIES_STEP, STAGES,
  addSample, emptySeries, isRefusedPage, mergePage, seriesFromManifest, validSeriesCache
};

export const EVENT_BUFFER_MAX = 5000;  // events held while a start or an attach is being resolved

export const ACTIVE_STATES = ["queued", "discovering", "running", "stopping"];
export const TERMINAL_STATES = ["stopped", "completed", "failed", "interrupted"];
export const STATE_RANK = {
  queued: 0, discovering: 1, running: 2, stopping: 3, stopped: 4, completed: 4, failed: 4, interrupted: 4
};
export const STATE_LABELS = {
  queued: "Queued", discovering: "Discovering…", running: "Running", stopping: "Stopping…",
  stopped: "Stopped", completed: "Completed", failed: "Failed", interrupted: "Interrupted"
};
export const SOURCES = ["start", "link", "sitemap", "selection"];
export const EVENT_NAMES = [
  "crawler_status", "crawler_detailed_progress", "crawler_page", "crawler_log", "crawler_finished"
];

/**
 * Links refused at admission (`refused` of a snapshot or summary: {reason: count}), most first:
 * {count, entries: [[code, label, n]], text: "2,340 links not followed: robots 1,200 · out of scope 1,140"}.
 * They are not pages of the crawl, so they are shown apart from the bar and the skipped count.
 */
export function describeRefused(refused) {
  const entries = [];
  if (refused && typeof refused === "object") {
    Object.keys(refused).forEach(function (code) {
      const n = refused[code];
      if (typeof n === "number" && isFinite(n) && n > 0) {
        entries.push([code, Object.prototype.hasOwnProperty.call(REFUSAL_LABELS, code) ? REFUSAL_LABELS[code] : code, n]);
      }
    });
  }
  entries.sort(function (a, b) { return b[2] - a[2] || (a[0] < b[0] ? -1 : 1); });
  const count = entries.reduce(function (sum, e) { return sum + e[2]; }, 0);
  const text = count === 0 ? "" : count.toLocaleString("en-US") + (count === 1 ? " link" : " links") +
    " not followed: " + entries.map(function (e) { return e[1] + " " + e[2].toLocaleString("en-US"); }).join(" · ");
  return { count: count, entries: entries, text: text };
}

/** The ETA is an estimate while links may still add pages: "≈" before it until `total_final`. */
export function etaApproximate(progress) {
  return !!progress && progress.total_final === false && typeof progress.eta === "number";
}

function isPair(value) {
  return Array.isArray(value) && value.length === 2 && isNum(value[0]) && isNum(value[1]);
}

/**
 * The ETA as shown: a range with "≈" while links may still add pages (`eta_range`:
 * "≈ 15–25 s", "≈ 1m 05s – 2m 10s"), the plain figure once the total is known, "—" while unknown.
 */
export function etaText(progress) {
  if (!progress || !isNum(progress.eta)) return formatDuration(null);
  if (progress.total_final !== false) return formatDuration(progress.eta);
  const range = progress.eta_range;
  if (!isPair(range)) return "≈ " + formatDuration(progress.eta);
  const low = Math.round(range[0]);
  const high = Math.round(range[1]);
  if (low === high) return "≈ " + formatDuration(low);
  if (high < 60) return "≈ " + low + "–" + high + " s";
  return "≈ " + formatDuration(low) + " – " + formatDuration(high);
}

/** Where the total will likely end while it is an estimate ("≈ 1,100–1,400 pages"), else "". */
export function totalRangeText(progress) {
  if (!progress || progress.total_final !== false || !isPair(progress.total_range)) return "";
  const low = progress.total_range[0].toLocaleString("en-US");
  const high = progress.total_range[1].toLocaleString("en-US");
  return "≈ " + (low === high ? low : low + "–" + high) + " pages";
}

export function isActive(state) { return isIn(ACTIVE_STATES, state); }
export function isTerminal(state) { return isIn(TERMINAL_STATES, state); }
function isKnownState(state) { return Object.prototype.hasOwnProperty.call(STATE_RANK, state); }

export function initialState() {
  return {
    // The crawl the page is showing; events for any other crawl are ignored.
    crawlId: null,
    kind: "crawl",        // "crawl" or "discovery" (a discovery lists pages and stores none)
    state: null,          // last known state of the shown crawl
    summary: null,        // set when the crawl has ended
    message: "",          // last crawler_status message
    notice: "",           // the line under the state label
    stopRequested: false, // Stop clicked, waiting for the server to confirm
    lastProgress: null,
    downloads: null,      // download links from GET /api/crawls/<id>, if the summary has none
    token: 0,             // bumps on every attach; late answers for an older view are dropped
    loading: false,       // details of the shown crawl are being fetched; events are held meanwhile
    attaching: false,     // first load of the shown crawl's details (nothing to show yet)
    held: [],
    pages: emptyPages(),  // one record per URL, see mergePage
    log: emptyLog(),      // lines in display order: numbered ones by seq, each seq once
    starting: false,      // start_crawl / start_discovery sent, waiting for its acknowledgement
    startingKind: "crawl",
    startHeld: [],        // events of not-yet-known crawls received while starting
    resuming: false,
    refreshing: false,    // refresh_crawl sent, waiting for its acknowledgement
    refreshOf: null,      // the crawl on show refreshes this one (its details' refresh_of)
    // The server's word on whether the crawl on show can be resumed (`resumable` of its detail
    // or list row): the Resume button follows it, never a rule of its own.
    resumable: false,
    refusedPages: emptyPages(),  // links refused at admission, apart from the pages (see handlePages)
    series: emptySeries(),       // the crawl's samples over time, for the speed chart (see addSample)
    seriesCache: {},             // crawl id → series of the crawls this page showed, most recent last
    formError: "",
    effects: []
  };
}

/*
 * Effects, for the page to carry out after a step:
 *   {type: "sync"}                 list this session's crawls and show a live one (requestSync)
 *   {type: "history"}              refresh the list of crawls
 *   {type: "load", crawlId, refresh, state, kind}   fetch a crawl's details (then details_* and load_done)
 *   {type: "fill_form", config}    show an attached crawl's configuration in the form
 *   {type: "show_discovery", id}   show the URL list of a discovery that has ended
 *   {type: "close_discovery"}
 */
function effect(s, e) {
  s.effects.push(e);
}

// ---------------------------------------------------------------- selectors

/** A start is pending or the crawl on show is still going: no second one from this page. */
export function busy(s) {
  return s.starting || (!!s.crawlId && isActive(s.state) && !s.summary);
}

export function finalLabel(s, summary) {
  const ok = num(summary.ok);
  if (s.kind === "discovery") {
    const found = isNum(summary.discovered) ? summary.discovered : num(s.lastProgress && s.lastProgress.discovered);
    switch (summary.state) {
      case "stopped": return "Discovery stopped: " + found + " pages found";
      case "interrupted": return "Discovery interrupted: " + found + " pages found";
      case "completed": return "Discovery completed: " + found + " pages found";
      case "failed": return "Failed: " + (summary.stop_reason || s.message || "unknown reason");
      default: return STATE_LABELS[summary.state] || "Ended";
    }
  }
  switch (summary.state) {
    case "stopped": return "Stopped: " + ok + " pages kept";
    case "interrupted": return "Interrupted (" + (summary.stop_reason || "the server stopped") + "): " +
      ok + " pages kept";
    case "completed": return "Completed: " + ok + " pages saved";
    case "failed": return "Failed: " + (summary.stop_reason || s.message || "unknown reason");
    default: return STATE_LABELS[summary.state] || "Ended";
  }
}

/** The state label and its data-state attribute. */
export function stateLabel(s) {
  if (s.starting) {
    return { label: s.startingKind === "discovery" ? "Starting discovery…" : "Starting…", dataState: "starting" };
  }
  if (!s.crawlId) return { label: "Idle", dataState: "idle" };
  if (s.attaching) return { label: "Loading…", dataState: "loading" };
  if (s.summary) return { label: finalLabel(s, s.summary), dataState: s.summary.state || s.state || "ended" };
  if (s.stopRequested && !isTerminal(s.state)) return { label: "Stopping…", dataState: "stopping" };
  if (s.state === "failed" && s.message) return { label: "Failed: " + s.message, dataState: "failed" };
  return { label: STATE_LABELS[s.state] || (s.loading ? "Loading…" : "Unknown"), dataState: s.state || "unknown" };
}

/** Which buttons are usable and what they say. */
export function controls(s) {
  const running = busy(s);
  const stopping = !s.summary && (s.stopRequested || s.state === "stopping");
  const resumable = !!s.crawlId && !!s.summary && s.resumable === true;
  // A crawl that ended with pages saved can be crawled again, reusing what did not change.
  const refreshable = !!s.crawlId && !!s.summary && s.kind === "crawl" && num(s.summary.ok) > 0;
  return {
    startDisabled: s.starting || running,
    discoverDisabled: s.starting || running,
    stopDisabled: !(!!s.crawlId && !s.summary && !s.stopRequested &&
      (s.state === "queued" || s.state === "discovering" || s.state === "running")),
    stopText: stopping ? "Stopping…" : "Stop",
    resumeHidden: !resumable,
    resumeDisabled: !resumable || s.resuming || s.starting,
    resumeText: s.resuming ? "Resuming…" : "Resume",
    refreshHidden: !refreshable,
    refreshDisabled: !refreshable || s.refreshing || s.starting,
    refreshText: s.refreshing ? "Refreshing…" : "Refresh crawl",
    startText: s.starting && s.startingKind === "crawl" ? "Starting…" : "Start crawl",
    discoverText: s.starting && s.startingKind === "discovery" ? "Starting…" : "Discover pages"
  };
}

// ---------------------------------------------------------------- the reducer

/** Returns the state after `action`; `state` itself is never changed. */
export function reduce(state, action) {
  const s = Object.assign({}, state, { effects: [] });
  step(s, action);
  return s;
}

// `s` below is always a private copy made by reduce(): its fields may be reassigned, but the
// objects they point to (arrays, pages, log) are shared with the previous state and are
// replaced, never changed in place.
function step(s, a) {
  switch (a && a.type) {
    case "event": routeEvent(s, a.name, a.payload); break;
    case "start_requested":
      s.formError = "";
      s.starting = true;
      s.startingKind = a.kind === "discovery" ? "discovery" : "crawl";
      s.startHeld = [];
      break;
    case "start_succeeded": startSucceeded(s, a.crawlId, a.kind); break;
    case "start_failed":
      if (!s.starting) break;
      s.starting = false;
      s.startHeld = [];
      s.formError = a.message || "";
      if (a.refreshHistory) effect(s, { type: "history" });
      break;
    case "load_begin":
      if (!a.refresh) attach(s, a.crawlId, a.state, a.kind);
      s.loading = true;
      if (!a.refresh) s.attaching = true;
      break;
    case "details_loaded":
      if (a.token !== s.token) break;
      applyDetails(s, a.data, !!a.refresh);
      break;
    case "details_failed":
      if (a.token !== s.token) break;
      if (a.status === 404) {
        s.notice = "This crawl no longer exists on the server.";
        if (!s.summary) {
          s.state = null;
          s.stopRequested = false;
        }
      } else {
        s.notice = "Could not load the crawl: " + (a.message || "request failed");
      }
      break;
    case "load_done": {
      if (a.token !== s.token) break;
      s.loading = false;
      s.attaching = false;
      const held = s.held;
      s.held = [];
      held.forEach(function (item) { handleEvent(s, item[0], item[1]); });
      break;
    }
    case "stop_requested":
      if (!s.crawlId || s.stopRequested || s.summary) break;
      s.stopRequested = true;  // "Stopping…" right away, before the server answers
      s.formError = "";
      break;
    case "stop_answered":
      if (a.crawlId !== s.crawlId) break;
      if (!a.ok) {
        if (!s.summary) s.stopRequested = false;
        s.formError = "Could not stop the crawl: " + (a.error || "the server refused");
        break;
      }
      if (typeof a.state === "string") {
        advanceState(s, a.state);
        // Ended before the stop arrived: the details have the summary.
        if (isTerminal(a.state) && !s.summary) effect(s, { type: "load", crawlId: s.crawlId, refresh: true });
      }
      break;
    case "resume_requested":
      if (s.resuming) break;
      s.resuming = true;
      s.formError = "";
      break;
    case "resume_answered":
      s.resuming = false;
      // The view re-attaches to the crawl: panels cleared, counts carried over by the server.
      followAnswer(s, a, "resume", a.kind);
      break;
    case "refresh_requested":
      if (s.refreshing) break;
      s.refreshing = true;
      s.formError = "";
      break;
    case "refresh_answered":
      s.refreshing = false;
      // A new crawl, linked to the one on show: the view attaches to it.
      followAnswer(s, a, "refresh", "crawl");
      break;
    case "crawls_listed":
      noteResumable(s, a.crawls);
      crawlsListed(s, Array.isArray(a.crawls) ? a.crawls : []);
      break;
    case "history_listed": noteResumable(s, a.crawls); break;
    case "series_cache_loaded": s.seriesCache = validSeriesCache(a.cache); break;
    case "manifest_loaded":
      // A crawl this browser never watched: its speed chart rebuilt from the manifest's times.
      if (a.token === s.token && s.crawlId && s.series.points.length < 2) {
        const rebuilt = seriesFromManifest(a.entries);
        if (rebuilt.points.length) {
          s.series = rebuilt;
          s.seriesCache = cacheSeries(s.seriesCache, s.crawlId, rebuilt);
        }
      }
      break;
    case "crawls_list_failed":
      if (!s.crawlId) s.notice = "Could not list your crawls: " + (a.message || "request failed");
      break;
    case "form_error": s.formError = a.message || ""; break;
  }
}

/** Starts showing a crawl: clears the panels and makes its events count. */
/** The server's answer to a resume or a refresh: attach to the crawl it names, or say why not. */
function followAnswer(s, a, verb, kind) {
  if (!a.ok) {
    s.formError = "Could not " + verb + " the crawl: " + (a.error || "the server refused");
    return;
  }
  effect(s, { type: "load", crawlId: a.crawlId, refresh: false,
    state: typeof a.state === "string" ? a.state : "queued", kind: kind });
  effect(s, { type: "history" });
}

function attach(s, crawlId, state, kind) {
  s.token += 1;
  s.crawlId = crawlId;
  s.kind = kind === "discovery" ? "discovery" : "crawl";
  s.state = isKnownState(state) ? state : null;
  s.summary = null;
  s.message = "";
  s.notice = "";
  s.stopRequested = false;
  s.lastProgress = null;
  s.downloads = null;
  s.refreshOf = null;
  s.loading = false;
  s.attaching = false;
  s.held = [];
  s.pages = emptyPages();
  s.log = emptyLog();
  s.resumable = false;
  s.refusedPages = emptyPages();
  s.series = Object.prototype.hasOwnProperty.call(s.seriesCache, crawlId) ? s.seriesCache[crawlId] : emptySeries();
}

function startSucceeded(s, crawlId, kind) {
  if (!s.starting) return;
  s.starting = false;
  const held = s.startHeld;
  s.startHeld = [];
  if (kind === "discovery") effect(s, { type: "close_discovery" }); // its list replaces the one on show when it ends
  attach(s, crawlId, "queued", kind);
  s.notice = kind === "discovery" ? "Discovery queued." : "Crawl queued.";
  held.forEach(function (item) {
    if (item[1].crawl_id === crawlId) handleEvent(s, item[0], item[1]);
  });
  effect(s, { type: "history" });
}

/** After listing this session's crawls: catch up on the crawl on show, or show a live one. */
function crawlsListed(s, crawls) {
  if (s.starting) return;
  if (s.crawlId && isActive(s.state) && !s.summary) {
    if (!s.loading) effect(s, { type: "load", crawlId: s.crawlId, refresh: true });
    return;
  }
  let live = null;
  for (let i = 0; i < crawls.length; i++) {
    if (crawls[i] && isActive(crawls[i].state)) { live = crawls[i]; break; }
  }
  if (live && live.crawl_id !== s.crawlId) {
    effect(s, { type: "load", crawlId: live.crawl_id, refresh: false, state: live.state, kind: live.kind });
  }
}

/** States only move forward (queued → discovering → running → stopping → ended), whatever order events arrive in. */
function advanceState(s, state) {
  if (!isKnownState(state)) return false;
  if (s.state && STATE_RANK[state] < STATE_RANK[s.state]) return false;
  if (s.state === state) return false;
  s.state = state;
  return true;
}

/** Routes an event: only the crawl on show counts (events are held while that is being settled). */
function routeEvent(s, name, p) {
  if (!p || typeof p !== "object") return;
  if (name === "crawler_finished") effect(s, { type: "history" });
  const id = p.crawl_id;
  if (!id) return;
  if (s.starting && id !== s.crawlId) {
    if (s.startHeld.length < EVENT_BUFFER_MAX) s.startHeld = s.startHeld.concat([[name, p]]);
    return;
  }
  if (id !== s.crawlId) {
    // A crawl of this session started elsewhere (another tab, another server, the REST API):
    // list it, and show it live when nothing else is running on screen.
    if (name === "crawler_status" && !s.starting) effect(s, { type: "sync" });
    return;
  }
  if (s.loading) {
    if (s.held.length < EVENT_BUFFER_MAX) s.held = s.held.concat([[name, p]]);
    return;
  }
  if (name === "crawler_status" && p.state === "queued" && isTerminal(s.state) && !s.resuming) {
    // The crawl on show was resumed elsewhere (another tab, another server): a new run begins.
    effect(s, { type: "load", crawlId: id, refresh: false, state: "queued", kind: s.kind });
    return;
  }
  handleEvent(s, name, p);
}

function handleEvent(s, name, p) {
  switch (name) {
    case "crawler_status": handleStatus(s, p); break;
    case "crawler_detailed_progress": handleProgress(s, p); break;
    case "crawler_page": handlePages(s, p.pages); break;
    case "crawler_log": s.log = addLog(s.log, [p]); break;
    case "crawler_finished":
      if (!s.summary) handleFinished(s, p);
      break;
  }
}

function handleStatus(s, p) {
  if (typeof p.message === "string") {
    s.message = p.message;
    s.notice = p.message;
  }
  advanceState(s, p.state);
  effect(s, { type: "history" });
}

function handleProgress(s, p) {
  const last = s.lastProgress;
  if (last && typeof last.timestamp === "string" && typeof p.timestamp === "string" &&
      p.timestamp < last.timestamp) return; // an older snapshot than the one shown
  s.lastProgress = p;
  if (typeof p.state === "string") advanceState(s, p.state);
  const series = addSample(s.series, p);
  if (series !== s.series) {
    s.series = series;
    s.seriesCache = cacheSeries(s.seriesCache, s.crawlId, series);
  }
}

function handleFinished(s, p) {
  const summary = p.summary && typeof p.summary === "object" ? p.summary : {};
  const state = isTerminal(p.state) ? p.state : (isTerminal(summary.state) ? summary.state : "completed");
  if (summary.kind === "discovery" || summary.kind === "crawl") s.kind = summary.kind;
  s.summary = Object.assign({}, summary, { state: state });
  s.state = state;
  s.stopRequested = false;
  if (summary.stop_reason) s.notice = summary.stop_reason;
  s.pages = markUnfinished(s.pages);
  if (s.kind === "discovery") effect(s, { type: "show_discovery", id: s.crawlId });
}

/** Applies GET /api/crawls/<id>. `refresh` = catching up on a crawl already shown. */
function applyDetails(s, data, refresh) {
  if (!data || typeof data !== "object") return;
  if (!refresh && data.config && typeof data.config === "object") effect(s, { type: "fill_form", config: data.config });
  if (data.kind === "discovery" || data.kind === "crawl") s.kind = data.kind;
  s.refreshOf = typeof data.refresh_of === "string" ? data.refresh_of : null;
  if (typeof data.state === "string") advanceState(s, data.state);
  if (data.progress && typeof data.progress === "object") handleProgress(s, data.progress);
  if (data.downloads && typeof data.downloads === "object") s.downloads = data.downloads;
  if (typeof data.resumable === "boolean") s.resumable = data.resumable;
  if (Array.isArray(data.recent_pages) && data.recent_pages.length) {
    // The last page transitions, oldest first: rebuilds the page list after a reload or a reconnect.
    handlePages(s, data.recent_pages);
  }
  if (Array.isArray(data.recent_log)) s.log = addLog(s.log, data.recent_log);
  if (!refresh && isTerminal(data.state) && s.kind === "crawl" && s.series.points.length < 2) {
    // Nothing to draw but the last snapshot: this browser did not watch the crawl run.
    effect(s, { type: "load_manifest", crawlId: s.crawlId, token: s.token });
  }
  if (data.summary && typeof data.summary === "object") {
    handleFinished(s, { crawl_id: s.crawlId, state: data.summary.state || data.state, summary: data.summary });
  } else if (isTerminal(data.state) && !s.summary) {
    // Ended but no summary recorded: show what the last snapshot knows.
    const p = s.lastProgress || {};
    handleFinished(s, { crawl_id: s.crawlId, state: data.state, summary: {
      state: data.state, ok: p.ok, failed: p.failed, skipped: p.skipped
    } });
  }
}

function handlePages(s, list) {
  const both = addPages(s.pages, s.refusedPages, list);
  s.pages = both.pages;
  s.refusedPages = both.refusedPages;
}

// ---------------------------------------------------------------- resumable

/** The crawl list's word on the crawl on show: whether a resume would be accepted now. */
function noteResumable(s, crawls) {
  if (!s.crawlId || !Array.isArray(crawls)) return;
  for (let i = 0; i < crawls.length; i++) {
    const row = crawls[i];
    if (row && row.crawl_id === s.crawlId && typeof row.resumable === "boolean") {
      s.resumable = row.resumable;
      return;
    }
  }
}

