/*
 * Small pure helpers shared by the dashboard modules (no DOM access, so Node can import them).
 */

export function isIn(list, value) { return list.indexOf(value) !== -1; }

export function num(value) {
  const n = typeof value === "number" ? value : Number(value);
  return isFinite(n) ? n : 0;
}

export function isNum(value) { return typeof value === "number" && isFinite(value); }

function pad2(n) { return n < 10 ? "0" + n : String(n); }

/** 42 → "42s", 65 → "1m 05s", 3725 → "1h 02m 05s"; null/invalid → "—". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0) return "—";
  const t = Math.round(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  if (h > 0) return h + "h " + pad2(m) + "m " + pad2(s) + "s";
  if (m > 0) return m + "m " + pad2(s) + "s";
  return s + "s";
}

export function formatSeconds(seconds) {
  const s = num(seconds);
  if (s >= 60) return formatDuration(s);
  if (s >= 1) return s.toFixed(1) + " s";
  if (s > 0 && s < 0.01) return "<0.01 s";
  return s.toFixed(2) + " s";
}

function parseTime(iso) {
  if (typeof iso !== "string" || !iso) return null;
  const d = new Date(iso);
  return isNaN(d.getTime()) ? null : d;
}

export function formatClock(iso) {
  const d = parseTime(iso);
  if (!d) return typeof iso === "string" ? iso : "";
  return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}

export function formatDateTime(iso) {
  const d = parseTime(iso);
  if (!d) return typeof iso === "string" ? iso : "";
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) +
    " " + pad2(d.getHours()) + ":" + pad2(d.getMinutes());
}

export function isHttpUrl(value) { return typeof value === "string" && /^https?:\/\//i.test(value); }

/** A same-origin path such as "/api/crawls/x/download?format=zip" (never "//host" or "javascript:"). */
export function isLocalPath(value) {
  return typeof value === "string" && /^\/(?!\/)/.test(value) && !/[\\\s]/.test(value);
}

export function downloadPath(crawlId, format) {
  return "/api/crawls/" + encodeURIComponent(crawlId) + "/download?format=" + encodeURIComponent(format);
}

export function errorMessage(err, fallback) {
  if (!err) return fallback;
  if (typeof err === "string") return err;
  if (err.message) return err.message;
  return fallback;
}
