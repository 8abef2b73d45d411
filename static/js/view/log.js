/* The log panel: shows the state's log lines, follows the newest unless scrolled up. */

import { el, make, text, clear } from "../dom.js";
import { formatClock, isIn } from "../util.js";

const LOG_LEVELS = ["debug", "info", "warning", "error"];

let follow = true;     // keep the newest line in view
let unseen = 0;        // lines added while auto-scroll is paused
let pending = null;    // the log state waiting for the next paint
let scheduled = false;
let shown = null;      // the log state on screen

function makeLogLine(line) {
  const entry = line.entry;
  const rawLevel = typeof entry.level === "string" ? entry.level.toLowerCase() : "info";
  let level = rawLevel === "warn" ? "warning" : rawLevel;
  if (!isIn(LOG_LEVELS, level)) level = "info";
  const node = make("div", "log-line log-" + level);
  const time = make("span", "log-time", formatClock(entry.timestamp));
  if (typeof entry.timestamp === "string") time.title = entry.timestamp;
  node.appendChild(time);
  node.appendChild(make("span", "log-level", rawLevel || "info"));
  node.appendChild(make("span", "log-msg", entry.message));
  node._lineId = line.id;
  if (line.seq !== null) node.setAttribute("data-seq", String(line.seq));
  return node;
}

/** An empty log, following again (a new crawl on show). */
export function resetLog() {
  pending = null;
  shown = null;
  unseen = 0;
  follow = true;
  clear(el.log);
  renderResume();
}

/** Shows `log` at the next paint (at once with `now`). */
export function renderLog(log, now) {
  pending = log;
  if (now) {
    flush();
    return;
  }
  if (scheduled) return;
  scheduled = true;
  let done = false;
  const run = function () {
    if (done) return;
    done = true;
    scheduled = false;
    flush();
  };
  requestAnimationFrame(run);
  setTimeout(run, 250); // background tabs do not paint
}

function flush() {
  const log = pending;
  pending = null;
  if (!log || log === shown) return;
  shown = log;
  const keep = new Set();
  log.lines.forEach(function (line) { keep.add(line.id); });
  for (let node = el.log.firstElementChild; node;) {
    const next = node.nextElementSibling;
    if (!keep.has(node._lineId)) el.log.removeChild(node);
    node = next;
  }
  let added = 0;
  let cursor = el.log.firstElementChild;
  let frag = null;  // new lines in a row, inserted in one go
  for (let i = 0; i < log.lines.length; i++) {
    const line = log.lines[i];
    if (cursor && cursor._lineId === line.id) {
      if (frag) {
        el.log.insertBefore(frag, cursor);
        frag = null;
      }
      cursor = cursor.nextElementSibling;
      continue;
    }
    if (!frag) frag = document.createDocumentFragment();
    frag.appendChild(makeLogLine(line));
    added += 1;
  }
  if (frag) el.log.insertBefore(frag, cursor);
  if (follow) {
    el.log.scrollTop = el.log.scrollHeight;
  } else {
    unseen += added;
    renderResume();
  }
}

function atBottom() {
  return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight <= 8;
}

function renderResume() {
  if (follow) {
    el.logResume.hidden = true;
    return;
  }
  el.logResume.hidden = false;
  text(el.logResume, unseen > 0
    ? "Resume auto-scroll · " + unseen + " new line" + (unseen === 1 ? "" : "s")
    : "Resume auto-scroll");
}

export function initLog() {
  el.log.addEventListener("scroll", function () {
    const bottom = atBottom();
    if (bottom && !follow) {
      follow = true;
      unseen = 0;
      renderResume();
    } else if (!bottom && follow) {
      follow = false;
      renderResume();
    }
  }, { passive: true });

  // A narrower or wider log re-wraps its lines; stay pinned to the bottom while following.
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(function () {
      if (follow) el.log.scrollTop = el.log.scrollHeight;
    }).observe(el.log);
  }

  el.logResume.addEventListener("click", function () {
    follow = true;
    unseen = 0;
    el.log.scrollTop = el.log.scrollHeight;
    renderResume();
  });
}
