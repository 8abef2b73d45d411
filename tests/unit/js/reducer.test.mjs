// The dashboard's reducer (static/js/state.js), run with Node's own test runner:
//   node --test tests/unit/js/*.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  reduce, initialState, stateLabel, controls, busy, LOG_LINES_MAX, PAGE_ROWS_MAX, describeRefused, etaApproximate,
  addSample, emptySeries, validSeriesCache, SERIES_MAX, SERIES_CACHE_MAX
} from "../../../static/js/state.js";

const A = "20261127-120000-aaaaaa";
const B = "20261127-120500-bbbbbb";

/** Freezes a value all the way down, so any change the reducer makes to its input throws. */
function freeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    Object.values(value).forEach(freeze);
  }
  return value;
}

/** Applies actions one after the other (each input frozen); returns the last state. */
function run(state, ...actions) {
  return actions.reduce((s, a) => reduce(freeze(s), freeze(a)), state);
}

const ev = (name, payload) => ({ type: "event", name, payload });
const status = (id, state, message) => ev("crawler_status", { crawl_id: id, state, message: message ?? null });
const log = (id, seq, message) => ev("crawler_log", {
  crawl_id: id, seq, level: "info", message: message ?? `line ${seq}`, timestamp: "2026-11-27T12:00:00.000Z"
});
const progress = (id, fields) => ev("crawler_detailed_progress", Object.assign({ crawl_id: id }, fields));
const page = (id, url, status, stage, extra) => ev("crawler_page", {
  crawl_id: id, pages: [Object.assign({ url, status, stage }, extra || {})]
});
const finished = (id, state, summary) => ev("crawler_finished", {
  crawl_id: id, state, summary: Object.assign({ state, ok: 3, failed: 0, skipped: 1 }, summary || {})
});

/** A page showing crawl `id`, attached and loaded (no details to show). */
function showing(id, kind) {
  let s = run(initialState(), { type: "load_begin", crawlId: id, refresh: false, state: "running", kind });
  const token = s.token;
  s = run(s, { type: "details_loaded", token, data: { crawl_id: id, kind: kind || "crawl", state: "running" } },
    { type: "load_done", token });
  return s;
}

const seqs = (s) => s.log.lines.map((l) => l.seq);
const effects = (s, type) => s.effects.filter((e) => e.type === type);

test("events of other crawls change nothing on show", () => {
  const s = showing(A);
  const after = run(s,
    log(B, 1), progress(B, { state: "running", ok: 9 }), page(B, "https://x.test/b", "ok", "done"),
    finished(B, "completed"));
  assert.deepEqual(after.log.lines, []);
  assert.equal(after.lastProgress, null);
  assert.deepEqual(after.pages.order, []);
  assert.equal(after.summary, null);
  assert.equal(after.state, "running");
  assert.equal(after.crawlId, A);
});

test("events without a crawl id, or without a payload, are dropped", () => {
  const after = run(showing(A), ev("crawler_log", { seq: 1, message: "x" }), ev("crawler_status", null));
  assert.deepEqual(after.log.lines, []);
  const starting = run(initialState(), { type: "start_requested", kind: "crawl" },
    ev("crawler_log", { seq: 1, message: "x" }));
  assert.deepEqual(starting.startHeld, [], "nothing to hold for a crawl with no id");
});

test("events arriving while a crawl's details load are held, then replayed once, merged by seq", () => {
  let s = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "running" });
  assert.equal(stateLabel(s).label, "Loading…");
  const token = s.token;
  // Live lines 4..7 arrive before the details (which know lines 1..5).
  s = run(s, log(A, 4), log(A, 5), log(A, 6), log(A, 7), progress(A, { state: "running", ok: 6 }));
  assert.deepEqual(s.log.lines, [], "nothing is shown before the details");
  assert.equal(s.held.length, 5);
  s = run(s, { type: "details_loaded", token, data: {
    crawl_id: A, kind: "crawl", state: "running", progress: { state: "running", ok: 5 },
    recent_log: [1, 2, 3, 4, 5].map((n) => ({ seq: n, level: "info", message: `line ${n}` })),
    recent_pages: [{ url: "https://x.test/1", status: "ok", stage: "done" }]
  } });
  assert.deepEqual(seqs(s), [1, 2, 3, 4, 5]);
  s = run(s, { type: "load_done", token });
  assert.deepEqual(seqs(s), [1, 2, 3, 4, 5, 6, 7], "no line lost or repeated");
  assert.deepEqual(s.held, []);
  assert.equal(s.loading, false);
  assert.equal(s.lastProgress.ok, 6, "the held snapshot is applied after the details' one");
  // A live line already shown is not shown again.
  s = run(s, log(A, 7), log(A, 8));
  assert.deepEqual(seqs(s), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("an answer for an older attach is ignored", () => {
  let s = run(initialState(), { type: "load_begin", crawlId: A, refresh: false });
  const old = s.token;
  s = run(s, { type: "load_begin", crawlId: B, refresh: false });
  s = run(s,
    { type: "details_loaded", token: old, data: { state: "running", recent_log: [{ seq: 1, message: "a" }] } },
    { type: "load_done", token: old });
  assert.equal(s.crawlId, B);
  assert.deepEqual(s.log.lines, []);
  assert.equal(s.loading, true, "still waiting for B's details");
});

test("log lines: gaps filled in seq order, unnumbered lines kept, trimmed lines never come back", () => {
  let s = run(showing(A), log(A, 1), log(A, 3), log(A, 2), log(A, 5));
  assert.deepEqual(seqs(s), [1, 2, 3, 5]);
  s = run(s, ev("crawler_log", { crawl_id: A, seq: null, level: "warning", message: "12 log lines skipped" }), log(A, 4));
  assert.deepEqual(seqs(s), [1, 2, 3, 4, 5, null]);
  s = run(s, log(A, 6));
  assert.deepEqual(seqs(s), [1, 2, 3, 4, 5, null, 6], "a newer line goes after the unnumbered one");

  let t = showing(A);
  const many = [];
  for (let n = 1; n <= LOG_LINES_MAX + 10; n++) many.push({ seq: n, message: `line ${n}` });
  const token = t.token;
  t = run(t, { type: "load_begin", crawlId: A, refresh: true },
    { type: "details_loaded", token, refresh: true, data: { state: "running", recent_log: many } });
  assert.equal(t.log.lines.length, LOG_LINES_MAX);
  assert.equal(t.log.lines[0].seq, 11);
  t = run(t, { type: "load_done", token }, log(A, 3));
  assert.equal(t.log.lines[0].seq, 11, "a line trimmed from the top is not added back");
});

test("states only move forward, whatever order events arrive in", () => {
  let s = showing(A);
  s = run(s, status(A, "stopping"), status(A, "running"), progress(A, { state: "queued" }));
  assert.equal(s.state, "stopping");
  s = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "queued" });
  s = run(s, { type: "load_done", token: s.token }, status(A, "discovering"), status(A, "queued"));
  assert.equal(s.state, "discovering");
});

test("an older progress snapshot than the one shown is ignored", () => {
  const s = run(showing(A),
    progress(A, { state: "running", ok: 5, timestamp: "2026-11-27T12:00:02.000Z" }),
    progress(A, { state: "running", ok: 3, timestamp: "2026-11-27T12:00:01.000Z" }));
  assert.equal(s.lastProgress.ok, 5);
});

test("a page row only moves forward through its stages and keeps its source and title", () => {
  let s = run(showing(A),
    page(A, "https://x.test/a", "active", "fetching", { source: "sitemap" }),
    page(A, "https://x.test/a", "active", "storing", { source: null, title: "A" }),
    page(A, "https://x.test/a", "active", "parsing", { source: null }));
  let rec = s.pages.byUrl["https://x.test/a"];
  assert.equal(rec.stage, "storing");
  assert.equal(rec.source, "sitemap");
  assert.equal(rec.title, "A");
  s = run(s, page(A, "https://x.test/a", "failed", null, { reason: "http_404", error: "HTTP 404" }));
  rec = s.pages.byUrl["https://x.test/a"];
  assert.equal(rec.status, "failed");
  assert.equal(rec.label, "failed · http_404");
  assert.equal(rec.source, "sitemap");
});

test("the page list keeps the newest PAGE_ROWS_MAX rows, newest first", () => {
  const pages = [];
  for (let i = 0; i < PAGE_ROWS_MAX + 5; i++) pages.push({ url: `https://x.test/${i}`, status: "ok", stage: "done" });
  const s = run(showing(A), ev("crawler_page", { crawl_id: A, pages }));
  assert.equal(s.pages.order.length, PAGE_ROWS_MAX);
  assert.equal(s.pages.order[0], `https://x.test/${PAGE_ROWS_MAX + 4}`);
  assert.equal(Object.keys(s.pages.byUrl).length, PAGE_ROWS_MAX);
  assert.ok(!("https://x.test/0" in s.pages.byUrl));
});

test("a crawl finishes once: a second crawler_finished changes nothing", () => {
  let s = run(showing(A), page(A, "https://x.test/a", "active", "fetching"), finished(A, "stopped", { ok: 3 }));
  assert.equal(s.summary.state, "stopped");
  assert.equal(s.state, "stopped");
  assert.equal(stateLabel(s).label, "Stopped: 3 pages kept");
  assert.equal(s.pages.byUrl["https://x.test/a"].unfinished, true, "a page left in a stage is unfinished");
  const first = s.summary;
  s = run(s, finished(A, "completed", { ok: 10 }), status(A, "running"));
  assert.equal(s.summary, first);
  assert.equal(stateLabel(s).label, "Stopped: 3 pages kept");
  assert.equal(s.state, "stopped");
  assert.equal(busy(s), false);
  assert.equal(controls(s).resumeHidden, true, "Resume waits for the server's word");
  s = run(s, { type: "history_listed", crawls: [{ crawl_id: A, state: "stopped", resumable: true }] });
  assert.equal(controls(s).resumeHidden, false, "the server says a stopped crawl can be resumed");
});

test("Stop: 'Stopping…' at once; a refusal takes it back; an answer for another crawl is ignored", () => {
  let s = run(showing(A), { type: "stop_requested" });
  assert.equal(s.stopRequested, true);
  assert.equal(stateLabel(s).label, "Stopping…");
  assert.equal(controls(s).stopDisabled, true);
  assert.equal(controls(s).stopText, "Stopping…");

  const refused = run(s, { type: "stop_answered", crawlId: A, ok: false, error: "unknown crawl" });
  assert.equal(refused.stopRequested, false);
  assert.equal(refused.formError, "Could not stop the crawl: unknown crawl");
  assert.equal(controls(refused).stopDisabled, false);

  const elsewhere = run(s, { type: "stop_answered", crawlId: B, ok: false, error: "x" });
  assert.equal(elsewhere.stopRequested, true);
  assert.equal(elsewhere.formError, "");

  const accepted = run(s, { type: "stop_answered", crawlId: A, ok: true, state: "stopping" });
  assert.equal(accepted.state, "stopping");
  assert.deepEqual(effects(accepted, "load"), []);
  assert.equal(stateLabel(run(accepted, finished(A, "stopped", { ok: 2 }))).label, "Stopped: 2 pages kept");

  // The crawl had already ended: its details (with the summary) are fetched again.
  const ended = run(s, { type: "stop_answered", crawlId: A, ok: true, state: "completed" });
  assert.deepEqual(effects(ended, "load"), [{ type: "load", crawlId: A, refresh: true }]);
});

test("Resume re-attaches: the view starts afresh with the resumed crawl", () => {
  let s = run(showing(A), log(A, 1), page(A, "https://x.test/a", "ok", "done"), finished(A, "stopped"));
  s = run(s, { type: "resume_requested" });
  assert.equal(controls(s).resumeText, "Resuming…");
  assert.equal(controls(s).resumeDisabled, true);
  s = run(s, { type: "resume_answered", crawlId: A, kind: "crawl", ok: true, state: "queued" });
  assert.equal(s.resuming, false);
  const load = effects(s, "load");
  assert.deepEqual(load, [{ type: "load", crawlId: A, refresh: false, state: "queued", kind: "crawl" }]);
  const before = s.token;
  s = run(s, { type: "load_begin", crawlId: A, refresh: false, state: "queued", kind: "crawl" });
  assert.equal(s.token, before + 1);
  assert.equal(s.summary, null);
  assert.deepEqual(s.log.lines, []);
  assert.deepEqual(s.pages.order, []);
  assert.equal(s.state, "queued");
  s = run(s, { type: "load_done", token: s.token }, log(A, 2));
  assert.deepEqual(seqs(s), [2]);
  assert.equal(stateLabel(s).label, "Queued");

  const refused = run(showing(A), finished(A, "stopped"), { type: "resume_requested" },
    { type: "resume_answered", crawlId: A, ok: false, error: "nothing left to crawl" });
  assert.equal(refused.formError, "Could not resume the crawl: nothing left to crawl");
  assert.deepEqual(effects(refused, "load"), []);
  assert.equal(refused.summary.state, "stopped");
});

test("Refresh crawl: offered on an ended crawl with pages saved; the view moves to the new crawl", () => {
  assert.equal(controls(showing(A)).refreshHidden, true, "nothing to refresh while it runs");
  assert.equal(controls(run(showing(A), finished(A, "failed", { ok: 0 }))).refreshHidden, true, "no page saved");
  assert.equal(controls(run(showing(A, "discovery"), finished(A, "completed"))).refreshHidden, true,
    "a discovery is not refreshed");
  let s = run(showing(A), finished(A, "completed"));
  assert.equal(controls(s).refreshHidden, false);
  s = run(s, { type: "refresh_requested" });
  assert.equal(controls(s).refreshText, "Refreshing…");
  assert.equal(controls(s).refreshDisabled, true);
  s = run(s, { type: "refresh_answered", crawlId: B, ok: true, state: "queued" });
  assert.equal(s.refreshing, false);
  assert.deepEqual(effects(s, "load"), [{ type: "load", crawlId: B, refresh: false, state: "queued", kind: "crawl" }]);
  s = run(s, { type: "load_begin", crawlId: B, refresh: false, state: "queued", kind: "crawl" });
  assert.equal(s.refreshOf, null, "not known until the details say so");
  s = run(s, { type: "details_loaded", token: s.token, data: { crawl_id: B, kind: "crawl", state: "queued",
    refresh_of: A } });
  assert.equal(s.refreshOf, A);

  const refused = run(showing(A), finished(A, "completed"), { type: "refresh_requested" },
    { type: "refresh_answered", ok: false, error: "crawl is still running" });
  assert.equal(refused.formError, "Could not refresh the crawl: crawl is still running");
  assert.deepEqual(effects(refused, "load"), []);
});

test("start: events of the new crawl held until acknowledged, then replayed; others dropped", () => {
  let s = run(initialState(), { type: "start_requested", kind: "crawl" });
  assert.equal(stateLabel(s).label, "Starting…");
  assert.equal(busy(s), true);
  s = run(s, status(A, "running", "Crawl started"), log(A, 1), log(B, 1), status(B, "running"));
  assert.deepEqual(effects(s, "sync"), [], "no sync while a start is pending");
  s = run(s, { type: "start_succeeded", crawlId: A, kind: "crawl" });
  assert.equal(s.crawlId, A);
  assert.equal(s.state, "running");
  assert.equal(s.notice, "Crawl started");
  assert.deepEqual(seqs(s), [1]);
  assert.deepEqual(s.startHeld, []);
  assert.equal(effects(s, "history").length, 2);

  const failed = run(initialState(), { type: "start_requested", kind: "crawl" }, log(A, 1),
    { type: "start_failed", message: "url: not a valid URL" });
  assert.equal(failed.starting, false);
  assert.equal(failed.formError, "url: not a valid URL");
  assert.deepEqual(failed.startHeld, []);
  assert.equal(stateLabel(failed).label, "Idle");
});

test("a discovery: its own labels, and its URL list once it ends", () => {
  let s = run(initialState(), { type: "start_requested", kind: "discovery" });
  assert.equal(stateLabel(s).label, "Starting discovery…");
  assert.equal(controls(s).discoverText, "Starting…");
  assert.equal(controls(s).startText, "Start crawl");
  s = run(s, { type: "start_succeeded", crawlId: A, kind: "discovery" });
  assert.equal(s.kind, "discovery");
  assert.equal(s.notice, "Discovery queued.");
  assert.equal(effects(s, "close_discovery").length, 1);
  s = run(s, progress(A, { state: "discovering", discovered: 40 }),
    finished(A, "completed", { kind: "discovery", discovered: 42 }));
  assert.equal(stateLabel(s).label, "Discovery completed: 42 pages found");
  assert.deepEqual(effects(s, "show_discovery"), [{ type: "show_discovery", id: A }]);

  const crawl = run(showing(A, "crawl"), finished(A, "completed"));
  assert.deepEqual(effects(crawl, "show_discovery"), []);
  assert.equal(stateLabel(crawl).label, "Completed: 3 pages saved");
});

test("a crawl of this session started elsewhere is listed, then shown when nothing else runs", () => {
  let s = run(initialState(), status(A, "queued", "Crawl queued"));
  assert.deepEqual(effects(s, "sync"), [{ type: "sync" }]);
  assert.equal(s.crawlId, null, "its events alone do not attach it");
  s = run(s, { type: "crawls_listed", crawls: [{ crawl_id: A, state: "running", kind: "crawl" }] });
  assert.deepEqual(effects(s, "load"), [{ type: "load", crawlId: A, refresh: false, state: "running", kind: "crawl" }]);

  // While another crawl runs on screen, that one is caught up on instead.
  let busyPage = run(showing(B), status(A, "queued"));
  assert.deepEqual(effects(busyPage, "sync"), [{ type: "sync" }]);
  busyPage = run(busyPage, { type: "crawls_listed", crawls: [
    { crawl_id: A, state: "running" }, { crawl_id: B, state: "running" }] });
  assert.deepEqual(effects(busyPage, "load"), [{ type: "load", crawlId: B, refresh: true }]);

  // Other events of an unknown crawl do not ask for a sync.
  assert.deepEqual(effects(run(initialState(), log(A, 1), progress(A, { state: "running" })), "sync"), []);
});

test("a crawl on show that is resumed elsewhere is loaded again as a new run", () => {
  let s = run(showing(A), finished(A, "stopped"));
  assert.equal(s.state, "stopped");
  s = run(s, status(A, "queued", "waiting for a free crawl slot"));
  assert.deepEqual(effects(s, "load"), [{ type: "load", crawlId: A, refresh: false, state: "queued", kind: "crawl" }]);
  // A queued status while the crawl is still going, or while this page resumes it, is no new run.
  assert.deepEqual(effects(run(showing(A), status(A, "queued")), "load"), []);
  let resumingHere = run(s, { type: "resume_requested", crawlId: A });
  resumingHere = run(resumingHere, status(A, "queued"));
  assert.deepEqual(effects(resumingHere, "load"), []);
});

test("details of an ended crawl show its summary, and a vanished crawl says so", () => {
  let s = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "completed" });
  const token = s.token;
  s = run(s, { type: "details_loaded", token, data: {
    crawl_id: A, kind: "crawl", state: "completed", config: { url: "https://x.test/" },
    summary: { state: "completed", ok: 7, failed: 1, skipped: 0 }
  } });
  assert.deepEqual(effects(s, "fill_form"), [{ type: "fill_form", config: { url: "https://x.test/" } }]);
  s = run(s, { type: "load_done", token });
  assert.equal(stateLabel(s).label, "Completed: 7 pages saved");
  assert.equal(controls(s).resumeHidden, true, "a completed crawl has nothing to resume");

  // Ended without a summary on record: the last snapshot's counts.
  let bare = run(initialState(), { type: "load_begin", crawlId: A, refresh: false });
  bare = run(bare, { type: "details_loaded", token: bare.token, data: {
    state: "interrupted", progress: { state: "running", ok: 4, failed: 0, skipped: 0 } } },
  { type: "load_done", token: bare.token });
  assert.equal(stateLabel(bare).label, "Interrupted (the server stopped): 4 pages kept");

  let gone = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "running" });
  gone = run(gone, { type: "details_failed", token: gone.token, status: 404, message: "unknown crawl" },
    { type: "load_done", token: gone.token });
  assert.equal(gone.notice, "This crawl no longer exists on the server.");
  assert.equal(gone.state, null);
  assert.equal(busy(gone), false);
});

test("reduce never changes the state it is given", () => {
  const s = freeze(showing(A));
  assert.doesNotThrow(() => run(s, log(A, 1), page(A, "https://x.test/a", "active", "fetching"),
    progress(A, { state: "running" }), { type: "stop_requested" }, finished(A, "stopped")));
  assert.deepEqual(s.log.lines, []);
});

// ---- links not followed, the ETA's "≈" ----

test("refused links are described apart, most first, with readable reasons", () => {
  const described = describeRefused(freeze({ out_of_scope: 1140, robots: 1200, filtered: 0, bogus: "x" }));
  assert.equal(described.count, 2340);
  assert.deepEqual(described.entries, [["robots", "robots", 1200], ["out_of_scope", "out of scope", 1140]]);
  assert.equal(described.text, "2,340 links not followed: robots 1,200 · out of scope 1,140");
  assert.equal(describeRefused({ robots: 1 }).text, "1 link not followed: robots 1");
  for (const none of [null, undefined, {}, { robots: 0 }, "robots"]) {
    assert.deepEqual(describeRefused(none), { count: 0, entries: [], text: "" });
  }
});

test("the ETA is marked approximate only while the total may still grow", () => {
  assert.equal(etaApproximate({ total_final: false, eta: 7.6 }), true);
  assert.equal(etaApproximate({ total_final: true, eta: 7.6 }), false);
  assert.equal(etaApproximate({ total_final: false, eta: null }), false, "no ETA: nothing to mark");
  assert.equal(etaApproximate(null), false);
});

// ---------------------------------------------------------------- resumable, refused links, speed samples

test("Resume is offered exactly when the server says the crawl is resumable", () => {
  // A crawl that failed on a full disk: the server's rule (can_resume) says yes.
  let s = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "failed" });
  s = run(s, { type: "details_loaded", token: s.token, data: {
    crawl_id: A, kind: "crawl", state: "failed", resumable: true,
    summary: { state: "failed", ok: 5, failed: 0, skipped: 0, stop_reason: "disk full at /data/x/manifest.jsonl" }
  } }, { type: "load_done", token: s.token });
  assert.equal(controls(s).resumeHidden, false);
  assert.equal(controls(s).resumeDisabled, false);
  // Any other failure, and a stopped crawl the server will not resume (e.g. already resumed elsewhere).
  let other = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "failed" });
  other = run(other, { type: "details_loaded", token: other.token, data: {
    crawl_id: A, state: "failed", resumable: false, summary: { state: "failed", stop_reason: "start page failed" }
  } }, { type: "load_done", token: other.token });
  assert.equal(controls(other).resumeHidden, true);
  let stopped = run(showing(A), finished(A, "stopped"));
  stopped = run(stopped, { type: "crawls_listed", crawls: [{ crawl_id: A, state: "stopped", resumable: false }] });
  assert.equal(controls(stopped).resumeHidden, true, "no state rule of the page's own");
  // Rows of other crawls say nothing about the one on show; attaching afresh forgets the answer.
  stopped = run(stopped, { type: "history_listed", crawls: [{ crawl_id: B, state: "stopped", resumable: true }] });
  assert.equal(controls(stopped).resumeHidden, true);
  s = run(s, { type: "load_begin", crawlId: B, refresh: false, state: "stopped" });
  assert.equal(s.resumable, false);
});

test("refused links are kept apart from the page list, each in its own bounded list", () => {
  let s = run(showing(A), page(A, "https://x.test/a", "ok", "done"),
    page(A, "https://x.test/private/", "skipped", "done", { reason: "robots" }),
    page(A, "https://github.com/x", "skipped", "done", { reason: "out_of_scope" }),
    page(A, "https://x.test/dup", "skipped", "done", { reason: "duplicate" }));
  assert.deepEqual(s.pages.order, ["https://x.test/dup", "https://x.test/a"], "a skipped page stays a page");
  assert.deepEqual(s.refusedPages.order, ["https://github.com/x", "https://x.test/private/"]);
  assert.equal(s.refusedPages.byUrl["https://github.com/x"].reason, "out_of_scope");
  // Thousands of refused links never push the crawl's pages out.
  const flood = [];
  for (let i = 0; i < PAGE_ROWS_MAX * 3; i++) {
    flood.push({ url: "https://other.test/" + i, status: "skipped", stage: "done", reason: "filtered" });
  }
  s = run(s, ev("crawler_page", { crawl_id: A, pages: flood }));
  assert.equal(s.pages.order.length, 2);
  assert.equal(s.refusedPages.order.length, PAGE_ROWS_MAX);
  assert.equal(s.refusedPages.order[0], "https://other.test/" + (PAGE_ROWS_MAX * 3 - 1), "newest first");
  // The page's recent transitions (details after a reload) are split the same way.
  let reloaded = run(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "running" });
  reloaded = run(reloaded, { type: "details_loaded", token: reloaded.token, data: { state: "running", recent_pages: [
    { url: "https://x.test/a", status: "ok", stage: "done" },
    { url: "https://x.test/p", status: "skipped", stage: "done", reason: "robots" }] } });
  assert.deepEqual(reloaded.pages.order, ["https://x.test/a"]);
  assert.deepEqual(reloaded.refusedPages.order, ["https://x.test/p"]);
});

test("speed samples: one per step of crawl time, taken from the progress snapshots", () => {
  const snap = (elapsed, extra) => progress(A, Object.assign({ state: "running", elapsed,
    timestamp: "2026-11-27T12:00:" + String(10 + elapsed).padStart(2, "0") + ".000Z" }, extra || {}));
  let s = run(showing(A), snap(0, { speed: 0 }), snap(1, { speed: 2.5, in_flight: 4, failed: 1,
    backoff: [{ host: "x.test", seconds_left: 3 }] }));
  assert.deepEqual(s.series.points, [[0, 0, 0, 0, 0], [1, 2.5, 4, 1, 1]]);
  // A snapshot sooner than the step adds nothing; an older one is ignored with the snapshot.
  const before = s.series;
  s = run(s, progress(A, { elapsed: 1.2, speed: 9, timestamp: "2026-11-27T12:00:11.200Z" }));
  assert.equal(s.series.points, before.points);
  assert.deepEqual(s.series.latest, [1.2, 9, 0, 0, 0], "held as the latest, drawn after the kept samples");
  // The end of a run: elapsed stands still, a count still moves; the same snapshot again changes nothing.
  s = run(s, progress(A, { elapsed: 1.2, speed: 9, failed: 2, timestamp: "2026-11-27T12:00:11.300Z" }));
  assert.deepEqual(s.series.latest, [1.2, 9, 0, 2, 0]);
  const same = s.series;
  s = run(s, progress(A, { elapsed: 1.2, speed: 9, failed: 2, timestamp: "2026-11-27T12:00:11.400Z" }));
  assert.equal(s.series, same);
  s = run(s, progress(A, { elapsed: 0.5, speed: 9, timestamp: "2026-11-27T12:00:05.000Z" }));
  assert.equal(s.series.points.length, 2);
  // Held while details load, then replayed: each snapshot counted once.
  s = run(s, { type: "load_begin", crawlId: A, refresh: true }, snap(3, { speed: 3 }));
  assert.equal(s.series.points.length, 2, "held, not yet counted");
  s = run(s, { type: "details_loaded", token: s.token, refresh: true,
    data: { state: "running", progress: { state: "running", elapsed: 2, speed: 2, timestamp: "2026-11-27T12:00:12.000Z" } } },
  { type: "load_done", token: s.token });
  assert.deepEqual(s.series.points.map((p) => p[0]), [0, 1, 2, 3]);
  assert.equal(s.series.latest, null, "a kept sample is the latest one");
});

test("speed samples stay bounded: neighbours merge and the step doubles", () => {
  let series = emptySeries();
  for (let i = 0; i <= SERIES_MAX; i++) {
    series = addSample(series, { elapsed: i * 0.5, speed: i % 2 ? 4 : 2, in_flight: i % 2 ? 1 : 3, failed: i });
  }
  assert.equal(series.points.length, Math.ceil((SERIES_MAX + 1) / 2));
  assert.equal(series.step, 1);
  assert.deepEqual(series.points[0], [0.5, 3, 3, 1, 0], "mean speed, most in flight, the later failure count");
  for (let i = 0; i < SERIES_MAX * 20; i++) series = addSample(series, { elapsed: 300 + i * 0.5, speed: 1 });
  assert.ok(series.points.length <= SERIES_MAX);
  assert.equal(series.points[series.points.length - 1][0] >= 300 + (SERIES_MAX * 20 - 1) * 0.5 - series.step, true);
});

test("a resumed run continues the same series; a crawl re-opened later shows its samples again", () => {
  let s = run(showing(A));
  for (let e = 0; e <= 4; e++) {
    s = run(s, progress(A, { state: "running", elapsed: e, speed: 1, timestamp: "2026-11-27T12:00:0" + e + ".000Z" }));
  }
  s = run(s, finished(A, "stopped"));
  // Another crawl on show, then this one again (from the list): its samples come back.
  s = run(s, { type: "load_begin", crawlId: B, refresh: false, state: "completed" });
  assert.deepEqual(s.series.points, []);
  s = run(s, { type: "load_begin", crawlId: A, refresh: false, state: "stopped" });
  assert.equal(s.series.points.length, 5);
  s = run(s, { type: "details_loaded", token: s.token, data: { state: "stopped", summary: { state: "stopped" },
    progress: { state: "stopped", elapsed: 4, speed: 1, timestamp: "2026-11-27T12:00:04.000Z" } } },
  { type: "load_done", token: s.token });
  assert.equal(s.series.points.length, 5, "the last snapshot again adds nothing");
  // Resumed: the view attaches afresh; elapsed starts again at 0, the samples go on after the first run's.
  s = run(s, { type: "resume_requested" }, { type: "resume_answered", crawlId: A, kind: "crawl", ok: true, state: "queued" },
    { type: "load_begin", crawlId: A, refresh: false, state: "queued" });
  s = run(s, { type: "details_loaded", token: s.token, data: { state: "queued" } }, { type: "load_done", token: s.token });
  s = run(s, progress(A, { state: "running", elapsed: 0, speed: 0, timestamp: "2026-11-27T13:00:00.000Z" }),
    progress(A, { state: "running", elapsed: 1, speed: 2, timestamp: "2026-11-27T13:00:01.000Z" }));
  assert.deepEqual(s.series.points.map((p) => p[0]), [0, 1, 2, 3, 4, 5]);
  // Kept for at most SERIES_CACHE_MAX crawls, and read back from storage only when well formed.
  for (let i = 0; i < SERIES_CACHE_MAX + 3; i++) {
    const id = "20261127-1300" + String(i).padStart(2, "0") + "-cccccc";
    s = run(s, { type: "load_begin", crawlId: id, refresh: false, state: "running" });
    s = run(s, { type: "load_done", token: s.token }, progress(id, { state: "running", elapsed: 1, speed: 1, timestamp: "2026-11-27T14:00:00.000Z" }));
  }
  assert.equal(Object.keys(s.seriesCache).length, SERIES_CACHE_MAX);
  const restored = run(initialState(), { type: "series_cache_loaded", cache: JSON.parse(JSON.stringify(s.seriesCache)) });
  assert.deepEqual(restored.seriesCache, s.seriesCache);
  assert.deepEqual(validSeriesCache({ x: { points: [[0, "1", 0, 0, 0]], step: 1, offset: 0, lastElapsed: 0 },
    y: null, z: { points: "no" } }), {});
});
