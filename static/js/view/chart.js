/*
 * "Speed over time": the samples the state keeps from the progress snapshots (state.series, see
 * addSample in state.js), drawn with uPlot (static/vendor, the global `uPlot`): pages per second
 * on the left axis; pages in flight, failed pages so far and hosts backing off on the right one.
 * The x axis is the crawl's own running time (a resumed run continues after the earlier ones).
 *
 * The samples are also kept in this browser's localStorage, so a reload, or a crawl re-opened
 * from "Your crawls" later, shows its history again.
 */

import { $, text } from "../dom.js";
import { SERIES_STEP, isTerminal } from "../state.js";

const box = $("speed-chart");
const note = $("speed-chart-note");
const STORAGE_KEY = "crawler-dashboard.series";
const HEIGHT = 190;

let plot = null;
let shownSeries = null;

const COLORS = { speed: "#2458c5", inFlight: "#1d7a3d", failed: "#b3261e", backoff: "#c47f00" };

function pad2(n) { return n < 10 ? "0" + n : String(n); }

/** Seconds of crawl time as a clock: 0:45, 12:05, 1:02:03. */
export function clockOf(seconds) {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  return h > 0 ? h + ":" + pad2(m) + ":" + pad2(s) : m + ":" + pad2(s);
}

/** uPlot's columns: the kept samples, then the latest snapshot (in place of the last sample
 * when it has the same time: a newer word on the same moment). */
function columns(series) {
  const cols = [[], [], [], [], []];
  let points = series.points;
  const latest = series.latest;
  const last = points.length ? points[points.length - 1] : null;
  if (latest && last && latest[0] === last[0]) points = points.slice(0, -1).concat([latest]);
  else if (latest && (!last || latest[0] > last[0])) points = points.concat([latest]);
  points.forEach(function (p) {
    for (let i = 0; i < 5; i++) cols[i].push(p[i]);
  });
  return cols;
}

function width() {
  return Math.max(200, Math.floor(box.clientWidth || (box.parentElement && box.parentElement.clientWidth) || 600));
}

/** A legend value: the hovered sample's, else the latest one's (what the crawl is doing now). */
function legendValue(format) {
  return function (u, v, si, idx) {
    let value = v;
    if (idx === null || idx === undefined) {
      const column = u.data[si];
      value = column && column.length ? column[column.length - 1] : null;
    }
    return value === null || value === undefined ? "—" : format(value);
  };
}

function fixed(digits) { return legendValue(function (v) { return v.toFixed(digits); }); }

function axisNumber(v) { return Number.isInteger(v) ? String(v) : v.toFixed(1); }

function makePlot(data) {
  const opts = {
    width: width(),
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: {
      x: { time: false },
      speed: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } },
      count: { range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.15))]; } }
    },
    axes: [
      {
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400],
        values: function (u, splits) { return splits.map(clockOf); },
        grid: { stroke: "#eef1f4" }, ticks: { stroke: "#dde2e8" }
      },
      {
        scale: "speed", label: "pages/s", labelSize: 18, size: 42,
        values: function (u, splits) { return splits.map(axisNumber); },
        grid: { stroke: "#eef1f4" }, ticks: { stroke: "#dde2e8" }
      },
      {
        scale: "count", side: 1, label: "pages · hosts", labelSize: 18, size: 42,
        values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ""; }); },
        grid: { show: false }, ticks: { stroke: "#dde2e8" }
      }
    ],
    series: [
      { label: "time", value: legendValue(clockOf) },
      { label: "pages/s", scale: "speed", stroke: COLORS.speed, width: 2, fill: "rgba(36, 88, 197, 0.08)",
        points: { show: false }, value: fixed(1) },
      { label: "in flight", scale: "count", stroke: COLORS.inFlight, width: 1.5, points: { show: false }, value: fixed(0) },
      { label: "failed", scale: "count", stroke: COLORS.failed, width: 1.5, points: { show: false }, value: fixed(0) },
      { label: "backing off", scale: "count", stroke: COLORS.backoff, width: 1.5, dash: [4, 3], points: { show: false },
        value: fixed(0) }
    ]
  };
  return new window.uPlot(opts, data, box);
}

function showNote(message) {
  text(note, message);
  note.hidden = !message;
}

/** Whether the crawl on show ran for less than `seconds` in all (its summary, else its last snapshot). */
function lastedUnder(s, seconds) {
  const duration = s.summary && typeof s.summary.duration === "number" ? s.summary.duration
    : (s.lastProgress && typeof s.lastProgress.elapsed === "number" ? s.lastProgress.elapsed : null);
  return duration !== null && duration < seconds;
}

/** Draws the crawl on show's samples, or says why there are none to draw. */
export function renderChart(s) {
  const points = s.series ? s.series.points : [];
  box.setAttribute("data-points", String(points.length));
  box.setAttribute("data-crawl-id", s.crawlId || "");
  if (typeof window.uPlot !== "function") {
    box.hidden = true;
    showNote("The chart cannot be drawn: its script (static/vendor/uPlot.iife.min.js) did not load.");
    return;
  }
  if (!s.crawlId || points.length < 2) {
    box.hidden = true;
    box.setAttribute("data-empty", "true");
    if (!s.crawlId) {
      showNote("Start a crawl to see its speed over time.");
    } else if ((s.summary || isTerminal(s.state)) && lastedUnder(s, 2 * SERIES_STEP)) {
      showNote("This crawl took under a second: too short to draw its speed over time.");
    } else if (s.summary || isTerminal(s.state)) {
      showNote("No speed history for this crawl: it is drawn from the progress this browser receives " +
        "while a crawl runs, and this browser did not watch this one run.");
    } else {
      showNote("Collecting samples… the chart starts with the crawl's second progress update.");
    }
    return;
  }
  box.removeAttribute("data-empty");
  box.hidden = false;
  showNote("");
  if (s.series === shownSeries && plot) return;
  shownSeries = s.series;
  const data = columns(s.series);
  if (!plot) {
    plot = makePlot(data);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        if (plot && !box.hidden && Math.abs(plot.width - width()) > 1) plot.setSize({ width: width(), height: HEIGHT });
      }).observe(box);
    }
  } else {
    plot.setData(data);
  }
}

/** The samples this browser kept ({crawl id: series}), or {} (the reducer checks their shape). */
export function loadSeriesCache() {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    return raw ? JSON.parse(raw) : {};
  } catch (e) {
    return {};
  }
}

export function saveSeriesCache(cache) {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(cache));
  } catch (e) {
    /* storage full or disabled: the chart still works for this page's lifetime */
  }
}
