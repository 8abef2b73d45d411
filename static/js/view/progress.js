/* The progress panel: bar, counters, current page, stage counts and times, skip reasons, back-off, downloads. */

import { $, el, make, text, clear } from "../dom.js";
import { STAGES, describeRefused, etaText, totalRangeText } from "../state.js";
import { downloadPath, formatDuration, formatSeconds, isIn, isLocalPath, isNum, num } from "../util.js";

const STAGE_TIME_KEYS = ["fetch", "render", "parse", "extract", "store"];
export const DOWNLOAD_FORMATS = [
  { key: "zip", label: "ZIP archive" },
  { key: "jsonl", label: "JSONL manifest" },
  { key: "markdown", label: "Markdown" },
  { key: "llms", label: "llms.txt" },
  { key: "llms-full", label: "llms-full.txt" }
];
// The site's own files for models, offered when the crawl kept them (the summary's `site_files`).
export const SITE_DOWNLOAD_FORMATS = [
  { key: "site-llms", name: "llms.txt", label: "the site's llms.txt" },
  { key: "site-llms-full", name: "llms-full.txt", label: "the site's llms-full.txt" }
];

export function resetProgress() {
  el.progressBar.value = 0;
  text(el.progressPercent, "0.0%");
  text(el.progressCount, "0 / 0");
  text(el.progressUnit, "pages");
  el.progressGrowing.hidden = true;
  el.progressBar.classList.remove("growing");
  text(el.currentUrl, "—");
  el.currentUrl.removeAttribute("title");
  text(el.currentStage, "—");
  el.currentStage.setAttribute("data-stage", "");
  text(el.speed, "—");
  text(el.eta, "—");
  text(el.elapsed, "—");
  text(el.countOk, "0");
  text(el.countFailed, "0");
  text(el.countSkipped, "0");
  text(el.countRendered, "0");
  text(el.inFlight, "0");
  text(el.queued, "0");
  text(el.discovered, "0");
  renderSkipReasons(null);
  renderRefused(null);
  setBackoff(null);
  renderStageCounts(null);
  renderStageTimes(null);
  el.downloads.hidden = true;
}

/** "robots 12 · out_of_scope 40 · …": one element per reason code, most frequent first. */
function renderSkipReasons(reasons) {
  const entries = [];
  if (reasons && typeof reasons === "object") {
    Object.keys(reasons).forEach(function (code) {
      const n = num(reasons[code]);
      if (n > 0) entries.push([code, n]);
    });
  }
  entries.sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); });
  const signature = entries.map(function (e) { return e[0] + "=" + e[1]; }).join(",");
  if (el.skipReasons._signature === signature) return;
  el.skipReasons._signature = signature;
  const frag = document.createDocumentFragment();
  entries.forEach(function (e) {
    const item = make("span", "skip-reason", e[0] + " " + e[1]);
    item.setAttribute("data-reason", e[0]);
    item.setAttribute("data-count", String(e[1]));
    frag.appendChild(item);
  });
  clear(el.skipReasons);
  el.skipReasons.appendChild(frag);
}

/** "2,340 links not followed: robots 1,200 · out of scope 1,140": links refused at admission,
 * apart from the pages (they are in neither the bar nor the skipped count). Hidden when none. */
function renderRefused(refused) {
  const described = describeRefused(refused);
  const signature = described.text;
  if (el.refused._signature === signature) return;
  el.refused._signature = signature;
  clear(el.refused);
  el.refused.hidden = described.count === 0;
  el.refused.setAttribute("data-count", String(described.count));
  el.refused.title = described.text;
  if (!described.count) return;
  el.refused.appendChild(make("span", "refused-label",
    described.count.toLocaleString("en-US") + (described.count === 1 ? " link" : " links") + " not followed:"));
  described.entries.forEach(function (e) {
    const item = make("span", "refused-reason", e[1] + " " + e[2].toLocaleString("en-US"));
    item.setAttribute("data-reason", e[0]);
    item.setAttribute("data-count", String(e[2]));
    el.refused.appendChild(item);
  });
}

// Hosts backing off, counted down between snapshots (which bring the server's own figure).
let backoffHosts = [];   // [{host, reason, until}] with `until` on performance.now()'s clock
let backoffTimer = null;

function setBackoff(list) {
  const now = performance.now();
  backoffHosts = [];
  if (Array.isArray(list)) {
    list.forEach(function (b) {
      if (!b || typeof b.host !== "string") return;
      backoffHosts.push({
        host: b.host,
        reason: typeof b.reason === "string" ? b.reason : "",
        until: now + Math.max(0, num(b.seconds_left)) * 1000
      });
    });
  }
  renderBackoff();
  if (backoffHosts.length && !backoffTimer) backoffTimer = setInterval(renderBackoff, 250);
}

function renderBackoff() {
  const now = performance.now();
  // A back-off that has run out here is over (the next snapshot confirms it).
  backoffHosts = backoffHosts.filter(function (b) { return b.until > now; });
  const rows = el.backoff.children;
  for (let i = 0; i < backoffHosts.length; i++) {
    const b = backoffHosts[i];
    const left = Math.max(1, Math.ceil((b.until - now) / 1000));
    const line = "" + b.host + ": backing off " + left + " s" + (b.reason ? " (" + b.reason + ")" : "");
    let row = rows[i];
    if (!row) {
      row = make("div", "backoff-line");
      el.backoff.appendChild(row);
    }
    row.setAttribute("data-host", b.host);
    text(row, line);
  }
  while (el.backoff.children.length > backoffHosts.length) el.backoff.removeChild(el.backoff.lastChild);
  el.backoff.hidden = backoffHosts.length === 0;
  if (!backoffHosts.length && backoffTimer) {
    clearInterval(backoffTimer);
    backoffTimer = null;
  }
}

function renderStageCounts(stages) {
  for (let i = 0; i < STAGES.length - 1; i++) {
    const name = STAGES[i];
    text($("stage-" + name), String(num(stages && stages[name])));
  }
}

function renderStageTimes(stageSeconds) {
  let total = 0;
  const values = {};
  STAGE_TIME_KEYS.forEach(function (key) {
    const v = Math.max(0, num(stageSeconds && stageSeconds[key]));
    values[key] = v;
    total += v;
  });
  STAGE_TIME_KEYS.forEach(function (key) {
    const share = total > 0 ? values[key] / total * 100 : 0;
    text($("time-" + key), formatSeconds(values[key]));
    text($("share-" + key), Math.round(share) + "%");
    $("bar-" + key).style.width = share.toFixed(1) + "%";
  });
}

/** One progress snapshot (crawler_detailed_progress) of a crawl of `kind`. */
export function renderProgress(p, kind) {
  const current = num(p.current);
  const total = num(p.total);
  let percent = isNum(p.percent) ? p.percent : (total > 0 ? current / total * 100 : 0);
  percent = Math.max(0, Math.min(100, percent));
  const growing = p.total_final === false;

  el.progressBar.value = percent;
  el.progressBar.classList.toggle("growing", growing);
  text(el.progressPercent, percent.toFixed(1) + "%");
  if (kind === "discovery" || p.state === "discovering") {
    // Finding pages (a discovery, or a crawl reading robots.txt and sitemaps): the number found.
    text(el.progressCount, String(num(p.discovered)));
    text(el.progressUnit, "pages discovered" + (kind === "discovery" ? " · " + current + " fetched" : ""));
  } else {
    text(el.progressCount, current + " / " + total + (growing ? "+" : ""));
    const likely = totalRangeText(p);
    text(el.progressUnit, "pages" + (likely ? " · " + likely + " in all" : ""));
  }
  el.progressGrowing.hidden = !growing;

  if (typeof p.current_url === "string" && p.current_url) {
    text(el.currentUrl, p.current_url);
    el.currentUrl.title = p.current_url;
  }
  if (typeof p.stage === "string" && p.stage) {
    text(el.currentStage, p.stage);
    el.currentStage.setAttribute("data-stage", isIn(STAGES, p.stage) ? p.stage : "");
  }
  text(el.speed, num(p.speed).toFixed(1) + " pages/s");
  text(el.eta, etaText(p));
  text(el.elapsed, formatDuration(p.elapsed));
  text(el.countOk, okText(p));
  text(el.countFailed, String(num(p.failed)));
  text(el.countSkipped, String(num(p.skipped)));
  text(el.countRendered, String(num(p.rendered)));
  text(el.inFlight, String(num(p.in_flight)));
  text(el.queued, String(num(p.queued)));
  text(el.discovered, String(num(p.discovered)));
  renderSkipReasons(p.skip_reasons);
  renderRefused(p.refused);
  setBackoff(p.backoff);
  renderStageCounts(p.stages);
  renderStageTimes(p.stage_seconds);
}

/** Pages saved, and of them those a refresh reused unchanged: "8 (4 reused)". */
function okText(counts) {
  const reused = num(counts.reused);
  return String(num(counts.ok)) + (reused > 0 ? " (" + reused + " reused)" : "");
}

/** The end of a crawl: the summary is the final word on the counts and stage times. */
export function renderFinished(s) {
  const summary = s.summary;
  if (s.lastProgress) renderProgress(s.lastProgress, s.kind);
  if (summary.ok !== undefined) text(el.countOk, okText(summary));
  if (summary.failed !== undefined) text(el.countFailed, String(num(summary.failed)));
  if (summary.skipped !== undefined) text(el.countSkipped, String(num(summary.skipped)));
  if (summary.rendered !== undefined) text(el.countRendered, String(num(summary.rendered)));
  if (summary.stage_seconds) renderStageTimes(summary.stage_seconds);
  if (isNum(summary.duration)) text(el.elapsed, formatDuration(summary.duration));
  if (summary.skip_reasons && typeof summary.skip_reasons === "object") renderSkipReasons(summary.skip_reasons);
  if (summary.refused && typeof summary.refused === "object") renderRefused(summary.refused);
  if (isNum(summary.discovered)) text(el.discovered, String(summary.discovered));
  if (s.kind === "discovery" && isNum(summary.discovered)) text(el.progressCount, String(summary.discovered));
  setBackoff(null);
  text(el.eta, "—");
  text(el.inFlight, "0");
  renderStageCounts(null);
  text(el.currentStage, "done");
  el.currentStage.setAttribute("data-stage", "done");
  // Nothing more will be discovered once the crawl has ended.
  el.progressBar.classList.remove("growing");
  el.progressGrowing.hidden = true;
  text(el.progressCount, el.progressCount.textContent.replace(/\+$/, ""));
  renderDownloads(s);
}

function renderDownloads(s) {
  const summary = s.summary;
  clear(el.downloads);
  const handled = isNum(summary.pages_handled) ? summary.pages_handled
    : num(summary.ok) + num(summary.failed) + num(summary.skipped);
  if (!s.crawlId || handled <= 0 || s.kind === "discovery") { // a discovery stores no pages
    el.downloads.hidden = true;
    return;
  }
  const links = summary.downloads && typeof summary.downloads === "object" ? summary.downloads
    : (s.downloads || {});
  el.downloads.appendChild(make("span", "downloads-label", "Download:"));
  DOWNLOAD_FORMATS.forEach(function (f) {
    const href = isLocalPath(links[f.key]) ? links[f.key] : downloadPath(s.crawlId, f.key);
    const a = make("a", "btn btn-small download-" + f.key, f.label);
    a.href = href;
    el.downloads.appendChild(a);
  });
  const kept = summary.site_files && typeof summary.site_files === "object" ? summary.site_files : {};
  SITE_DOWNLOAD_FORMATS.forEach(function (f) {
    if (!Object.prototype.hasOwnProperty.call(kept, f.name)) return;
    const a = make("a", "btn btn-small download-" + f.key, f.label);
    a.href = downloadPath(s.crawlId, f.key);
    if (kept[f.name] && typeof kept[f.name].url === "string") a.title = "As published at " + kept[f.name].url;
    el.downloads.appendChild(a);
  });
  el.downloads.hidden = false;
}
