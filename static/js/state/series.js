/*
 * The speed-over-time samples of a crawl (the chart), bounded, and the few crawls' samples this
 * browser keeps. Pure functions for the reducer.
 */

import { isNum, num } from "../util.js";

export const SERIES_MAX = 600;       // samples kept per crawl; when full, pairs are merged into one
export const SERIES_STEP = 0.5;      // seconds of crawl time between two samples (doubles on each merge)
export const SERIES_CACHE_MAX = 10;  // crawls whose samples are kept (shown again when re-opened)

export function emptySeries() {
  return { points: [], latest: null, step: SERIES_STEP, offset: 0, lastElapsed: null };
}

/**
 * The series after one more progress snapshot. A sample is
 * [t, pages/s, pages in flight, failed so far, hosts backing off], `t` in seconds of crawl time:
 * the snapshot's `elapsed`, plus the length of the earlier runs when a resumed run starts again
 * from 0. A sample closer than `step` to the last one kept is not kept, but held as `latest`
 * (what the crawl is doing now, drawn after the kept ones); past SERIES_MAX, neighbours are merged
 * (mean speed, most in flight and backing off, the later failure count) and `step` doubles, so a
 * long crawl keeps its whole history at a coarser grain. Returns `series` itself when the
 * snapshot changes nothing.
 */
export function addSample(series, p) {
  if (!p || !isNum(p.elapsed) || p.elapsed < 0) return series;
  const elapsed = p.elapsed;
  let offset = series.offset;
  if (series.lastElapsed !== null && elapsed < series.lastElapsed - 0.5) offset += series.lastElapsed; // a new run
  const t = offset + elapsed;
  const last = series.points.length ? series.points[series.points.length - 1] : null;
  const sample = [t, Math.max(0, num(p.speed)), Math.max(0, num(p.in_flight)), Math.max(0, num(p.failed)),
    Array.isArray(p.backoff) ? p.backoff.length : 0];
  if (last && t - last[0] < series.step) {
    // Not kept; the latest when it is as new as what is known (at the end of a run `elapsed`
    // stands still while the counts still move). A snapshot that changes nothing changes nothing.
    const known = series.latest || last;
    if (t < known[0] || sameSample(sample, known)) return series;
    return { points: series.points, latest: sample, step: series.step, offset: offset, lastElapsed: elapsed };
  }
  let points = series.points.concat([sample]);
  let step = series.step;
  if (points.length > SERIES_MAX) {
    const merged = [];
    for (let i = 0; i < points.length; i += 2) {
      const a = points[i];
      const b = points[i + 1];
      merged.push(b ? [b[0], (a[1] + b[1]) / 2, Math.max(a[2], b[2]), b[3], Math.max(a[4], b[4])] : a);
    }
    points = merged;
    step *= 2;
  }
  return { points: points, latest: null, step: step, offset: offset, lastElapsed: elapsed };
}

function sameSample(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The cache with `series` as the crawl's latest (at most SERIES_CACHE_MAX crawls, oldest dropped). */
export function cacheSeries(cache, crawlId, series) {
  if (!crawlId) return cache;
  const next = {};
  const ids = Object.keys(cache).filter(function (id) { return id !== crawlId; });
  ids.slice(Math.max(0, ids.length - (SERIES_CACHE_MAX - 1))).forEach(function (id) { next[id] = cache[id]; });
  next[crawlId] = series;
  return next;
}

function validSample(v) {
  return Array.isArray(v) && v.length === 5 && v.every(function (x) { return isNum(x) && x >= 0; });
}

/** A cache read back from storage: only well-formed series, at most SERIES_CACHE_MAX of them. */
export function validSeriesCache(raw) {
  const cache = {};
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return cache;
  const ids = Object.keys(raw).filter(function (id) {
    const v = raw[id];
    return v && typeof v === "object" && Array.isArray(v.points) && v.points.length <= SERIES_MAX &&
      v.points.every(validSample) && (v.latest === null || v.latest === undefined || validSample(v.latest)) &&
      isNum(v.step) && v.step > 0 && isNum(v.offset) &&
      (v.lastElapsed === null || isNum(v.lastElapsed));
  });
  ids.slice(Math.max(0, ids.length - SERIES_CACHE_MAX)).forEach(function (id) {
    const v = raw[id];
    cache[id] = { points: v.points.map(function (x) { return x.slice(); }), latest: v.latest ? v.latest.slice() : null,
      step: v.step, offset: v.offset, lastElapsed: v.lastElapsed };
  });
  return cache;
}

export const MANIFEST_SPEED_WINDOW = 10;  // seconds the speed of a rebuilt sample is measured over (as live)

function refused(entry) {
  return entry.status === "skipped" && (entry.reason === "robots" || entry.reason === "out_of_scope" ||
    entry.reason === "filtered");
}

/**
 * The speed history of a crawl this browser never watched, rebuilt from its manifest (the JSONL
 * download: one entry per URL, `fetched_at` when it was handled). A sample every SERIES_STEP
 * seconds (coarser for a long crawl, at most SERIES_MAX): pages handled per second over the
 * last MANIFEST_SPEED_WINDOW seconds, failures so far; what was in flight and backing off is not
 * in the manifest (0). Links refused at admission are not pages handled. Seconds count from the
 * first page; a resumed crawl's pause between runs is left out (a gap over a minute with no
 * page). Returns an empty series when the manifest has no dated page.
 */
export function seriesFromManifest(entries) {
  const times = [];
  (Array.isArray(entries) ? entries : []).forEach(function (e) {
    if (!e || typeof e !== "object" || refused(e) || typeof e.fetched_at !== "string") return;
    const ms = Date.parse(e.fetched_at);
    if (isFinite(ms)) times.push([ms / 1000, e.status === "failed" ? 1 : 0]);
  });
  if (!times.length) return emptySeries();
  times.sort(function (a, b) { return a[0] - b[0]; });
  let gap = 0;  // time between runs, left out
  const t = [];
  for (let i = 0; i < times.length; i++) {
    if (i > 0 && times[i][0] - times[i - 1][0] > 60) gap += times[i][0] - times[i - 1][0];
    t.push(times[i][0] - times[0][0] - gap);
  }
  const end = t[t.length - 1];
  let step = SERIES_STEP;
  while (end / step > SERIES_MAX) step *= 2;
  const points = [];
  let next = 0;     // index of the first page after the sample's time
  let first = 0;    // index of the first page inside the speed window
  let failed = 0;
  for (let at = step; at < end + step; at += step) {
    const moment = Math.min(at, end);
    while (next < t.length && t[next] <= moment) { failed += times[next][1]; next++; }
    while (first < next && t[first] <= moment - MANIFEST_SPEED_WINDOW) first++;
    const span = Math.max(1, Math.min(MANIFEST_SPEED_WINDOW, moment));
    points.push([moment, (next - first) / span, 0, failed, 0]);
  }
  return { points: points, latest: null, step: step, offset: 0, lastElapsed: null };
}
