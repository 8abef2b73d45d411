/*
 * The live log of the crawl on show: numbered lines kept once each, in seq order, at most
 * LOG_LINES_MAX. A pure function for the reducer.
 */

import { isNum } from "../util.js";

export const LOG_LINES_MAX = 1000;     // lines kept in the log

export function emptyLog() { return { lines: [], floor: 0, nextId: 1 }; }

/**
 * Adds lines to the log. Numbered lines are kept once each and in seq order, however they
 * arrive (`recent_log` of GET /api/crawls/<id>, live `crawler_log`, or both after a reload or a
 * reconnect); lines with a null seq ("N log lines skipped to keep up") are always kept, after
 * what is there. Lines beyond LOG_LINES_MAX go from the top, and their seqs never come back.
 */
export function addLog(log, entries) {
  let lines = null;
  let floor = log.floor;
  let nextId = log.nextId;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (!entry || typeof entry !== "object") continue;
    const seq = isNum(entry.seq) ? entry.seq : null;
    if (!lines) lines = log.lines.slice();
    const line = { id: nextId, seq: seq, entry: entry };
    if (seq === null) {
      lines.push(line);
    } else {
      if (seq <= floor) continue;
      // Newer than every numbered line (the usual case): at the end. Otherwise a gap is being
      // filled: after the last numbered line older than this one.
      let newest = 0;
      for (let k = lines.length - 1; k >= 0; k--) {
        if (lines[k].seq !== null) { newest = lines[k].seq; break; }
      }
      let at = lines.length;
      let dup = false;
      while (seq <= newest && at > 0) {
        const prev = lines[at - 1];
        if (prev.seq !== null) {
          if (prev.seq === seq) { dup = true; break; }
          if (prev.seq < seq) break;
        }
        at -= 1;
      }
      if (dup) continue;
      if (at === lines.length) lines.push(line);
      else lines.splice(at, 0, line);
    }
    nextId += 1;
    if (lines.length > LOG_LINES_MAX) {
      const dropped = lines.splice(0, lines.length - LOG_LINES_MAX);
      dropped.forEach(function (d) { if (d.seq !== null) floor = Math.max(floor, d.seq); });
    }
  }
  return lines ? { lines: lines, floor: floor, nextId: nextId } : log;
}
