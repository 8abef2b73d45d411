// The speed chart of a crawl this browser never watched, rebuilt from its manifest's times
// (static/js/state/series.js: seriesFromManifest; the reducer's manifest_loaded).
//   node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";

import { initialState, reduce, seriesFromManifest, emptySeries } from "../../../static/js/state.js";

const A = "20261127-120000-aaaaaa";

function at(seconds) { return new Date(Date.UTC(2026, 10, 27, 12, 0, 0) + seconds * 1000).toISOString(); }

test("a manifest gives a sample every half second: pages per second over the last 10 s, failures so far", () => {
  const entries = [];
  for (let i = 0; i < 40; i++) entries.push({ url: "u" + i, status: i === 5 ? "failed" : "ok", fetched_at: at(i * 0.25) });
  entries.push({ url: "r", status: "skipped", reason: "robots", fetched_at: at(1) });  // refused: not a page handled
  entries.push({ url: "x", status: "ok", fetched_at: null });
  const series = seriesFromManifest(entries);
  assert.equal(series.step, 0.5);
  const last = series.points[series.points.length - 1];
  assert.equal(last[0], 9.75, "the last page, 9.75 s after the first");
  assert.equal(last[1], 40 / 9.75, "40 pages over the 9.75 s so far");
  assert.equal(last[3], 1, "one failure");
  assert.deepEqual(series.points[1], [1, 5, 0, 0, 0], "5 pages by 1 s (the first at 0), over at least 1 s; the failure comes at 1.25 s");
});

test("a resumed crawl's pause between runs is left out, and a long crawl is sampled coarser", () => {
  const entries = [{ status: "ok", fetched_at: at(0) }, { status: "ok", fetched_at: at(3600) }, { status: "ok", fetched_at: at(3601) }];
  const series = seriesFromManifest(entries);
  assert.equal(series.points[series.points.length - 1][0], 1);
  const long = [];
  for (let i = 0; i <= 2000; i++) long.push({ status: "ok", fetched_at: at(i * 0.5) });
  const coarse = seriesFromManifest(long);
  assert.ok(coarse.points.length <= 600 && coarse.step === 2, "1,000 s in samples of 2 s");
});

test("the reducer draws the rebuilt history only for the crawl on show and only when it has none", () => {
  assert.deepEqual(seriesFromManifest([]), emptySeries());
  let s = reduce(initialState(), { type: "load_begin", crawlId: A, refresh: false, state: "completed", kind: "crawl" });
  s = reduce(s, { type: "details_loaded", token: s.token, refresh: false,
    data: { crawl_id: A, kind: "crawl", state: "completed", summary: { state: "completed", ok: 2 },
      progress: { crawl_id: A, state: "completed", current: 2, total: 2, total_final: true, elapsed: 2, speed: 1 } } });
  assert.equal(s.series.points.length, 1, "the last snapshot alone");
  const asked = s.effects.find(function (e) { return e.type === "load_manifest"; });
  assert.ok(asked && asked.crawlId === A, "the manifest is asked for");
  const entries = [{ status: "ok", fetched_at: at(0) }, { status: "ok", fetched_at: at(2) }];
  const stale = reduce(s, { type: "manifest_loaded", token: s.token + 1, entries: entries });
  assert.equal(stale.series, s.series, "another crawl's answer is ignored");
  const drawn = reduce(s, { type: "manifest_loaded", token: s.token, entries: entries });
  assert.ok(drawn.series.points.length > 0 && drawn.seriesCache[A] === drawn.series);
});
