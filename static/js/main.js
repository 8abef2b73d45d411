/*
 * Crawler Dashboard — browser client: wires the page, the server and the reducer together.
 *
 * Every change goes through `dispatch(action)`: the pure `reduce()` of state.js makes the next
 * state, the views draw what changed, then the effects the reducer asked for (fetching a crawl's
 * details, listing crawls…) are carried out. Event names and payload fields follow docs/events.md.
 */

import { el } from "./dom.js";
import {
  getCrawl, getManifest, listCrawls, refreshOverRest, resumeOverRest, startOverRest, stopOverRest
} from "./api.js";
import { connect } from "./socket.js";
import { busy, initialState, reduce } from "./state.js";
import { errorMessage } from "./util.js";
import { loadChanges, resetChanges } from "./view/changes.js";
import { closeDiscovery, initDiscovery, loadDiscovery, renderSelectionButton } from "./view/discovery.js";
import { fillForm, readForm } from "./view/form.js";
import { markHistoryCurrent, renderHistory, updateHistoryCounts, updateHistoryFromSummary } from "./view/history.js";
import { checkKeyStillValid, initKeys } from "./view/keys.js";
import { initLog, renderLog, resetLog } from "./view/log.js";
import { initPages, renderPages } from "./view/pages.js";
import { loadSeriesCache, renderChart, saveSeriesCache } from "./view/chart.js";
import { initServerPanel } from "./view/server.js";
import { renderFinished, renderProgress, resetProgress } from "./view/progress.js";
import { initReader, renderReaderButton } from "./view/reader.js";
import { initSchedules, setCrawlChoice } from "./view/schedules.js";
import { initSearch } from "./view/search.js";
import { renderStatus } from "./view/status.js";

let state = initialState();
let socket = null;

function dispatch(action) {
  const prev = state;
  state = reduce(state, action);
  render(prev, state);
  return runEffects(state.effects);
}

/** Draws what changed from `prev` to `s`. */
function render(prev, s) {
  if (s.token !== prev.token) {
    // Another crawl on show (or the same one attached afresh): empty panels.
    resetProgress();
    resetLog();
    resetChanges();
    markHistoryCurrent(s.crawlId);
  }
  if (s.summary && s.refreshOf && (s.summary !== prev.summary || s.refreshOf !== prev.refreshOf)) {
    loadChanges(s.crawlId);  // a refresh that ended: what changed since the crawl it refreshes
  }
  if (s.lastProgress !== prev.lastProgress && s.lastProgress && !s.summary) {
    renderProgress(s.lastProgress, s.kind);
    updateHistoryCounts(s.crawlId, s.lastProgress);
  }
  if (s.pages !== prev.pages || s.refusedPages !== prev.refusedPages) renderPages(s.pages, s.refusedPages);
  if (s.series !== prev.series || s.token !== prev.token || s.summary !== prev.summary ||
      s.state !== prev.state || s.attaching !== prev.attaching) renderChart(s);
  if (s.summary && s.summary !== prev.summary) saveSeriesCache(s.seriesCache);
  if (s.summary && s.summary !== prev.summary) {
    renderFinished(s);
    renderLog(s.log, true);
    updateHistoryFromSummary(s.crawlId, s.kind, s.summary);
  } else if (s.log !== prev.log) {
    renderLog(s.log, false);
  }
  renderStatus(s);
  renderSelectionButton();
  renderReaderButton(s);
}

function runEffects(effects) {
  return Promise.all(effects.map(function (e) {
    switch (e.type) {
      case "sync": requestSync(); return null;
      case "history": scheduleHistoryRefresh(); return null;
      case "load": return loadCrawl(e.crawlId, e.refresh, e.state, e.kind);
      case "load_manifest":
        return getManifest(e.crawlId).then(function (entries) {
          return dispatch({ type: "manifest_loaded", token: e.token, entries: entries });
        }, function () { /* no chart: nothing else depends on it */ });
      case "fill_form": fillForm(e.config); return null;
      case "show_discovery": loadDiscovery(e.id); return null;
      case "close_discovery": closeDiscovery(); return null;
      default: return null;
    }
  }));
}

// ---------------------------------------------------------------- crawl details (attach, catch up)

/** Fetches a crawl's details and shows them; events arriving meanwhile are replayed afterwards. */
function loadCrawl(crawlId, refresh, knownState, knownKind) {
  dispatch({ type: "load_begin", crawlId: crawlId, refresh: !!refresh, state: knownState, kind: knownKind });
  const token = state.token;
  return getCrawl(crawlId).then(function (data) {
    return dispatch({ type: "details_loaded", token: token, data: data, refresh: !!refresh });
  }, function (err) {
    return dispatch({ type: "details_failed", token: token, status: err.status,
      message: errorMessage(err, "request failed") });
  }).then(function () {
    return dispatch({ type: "load_done", token: token });
  });
}

// ---------------------------------------------------------------- crawl list and sync

let historyTimer = null;

function scheduleHistoryRefresh() {
  if (historyTimer) return;
  historyTimer = setTimeout(function () {
    historyTimer = null;
    listCrawls().then(function (data) {
      const crawls = data && Array.isArray(data.crawls) ? data.crawls : [];
      renderHistory(crawls, state.crawlId);
      setCrawlChoice(crawls);
      dispatch({ type: "history_listed", crawls: crawls });
    }, function () { /* keep the list as it is; the next refresh tries again */ });
  }, 300);
}

let syncRunning = false;
let syncAgain = false;

/** Lists this session's crawls, then catches up on the crawl on show or attaches to a live one. */
function syncOnce() {
  return listCrawls().then(function (data) {
    const crawls = data && Array.isArray(data.crawls) ? data.crawls : [];
    renderHistory(crawls, state.crawlId);
    setCrawlChoice(crawls);
    return dispatch({ type: "crawls_listed", crawls: crawls });
  }, function (err) {
    dispatch({ type: "crawls_list_failed", message: errorMessage(err, "request failed") });
  });
}

function requestSync() {
  if (syncRunning) {
    syncAgain = true;
    return;
  }
  syncRunning = true;
  const loop = function () {
    syncAgain = false;
    return syncOnce().then(function () {
      if (syncAgain) return loop();
      return null;
    });
  };
  loop().then(function () { syncRunning = false; }, function () { syncRunning = false; });
}

// ---------------------------------------------------------------- start / stop / resume

/**
 * Sends start_crawl or start_discovery (over REST when the socket is down); the view attaches to
 * the new crawl once the server acknowledges it.
 */
function requestStart(kind, config) {
  dispatch({ type: "start_requested", kind: kind });
  const noun = kind === "discovery" ? "discovery" : "crawl";
  const onAnswer = function (err, resp) {
    if (!state.starting) return;
    if (err) {
      dispatch({ type: "start_failed", refreshHistory: true, message: "No answer from the server (" +
        errorMessage(err, "timed out") + "). Check “Your crawls” before trying again." });
    } else if (resp && resp.ok === true && typeof resp.crawl_id === "string" && resp.crawl_id) {
      dispatch({ type: "start_succeeded", crawlId: resp.crawl_id, kind: kind });
    } else {
      dispatch({ type: "start_failed",
        message: resp && resp.error ? String(resp.error) : "The server refused to start the " + noun + "." });
    }
  };
  if (socket.connected) {
    socket.request(kind === "discovery" ? "start_discovery" : "start_crawl", config, onAnswer);
  } else {
    // No live connection: start over REST; the live view attaches once the socket is back.
    startOverRest(kind, config).then(function (data) {
      onAnswer(null, { ok: true, crawl_id: data && data.crawl_id });
    }, function (err) {
      if (err.status) onAnswer(null, { ok: false, error: err.message });
      else onAnswer(err);
    });
  }
}

/** What went wrong with an acknowledged request, or null when it went through. */
function failure(err, resp) {
  if (err) return errorMessage(err, "no answer");
  if (!resp || resp.ok !== true) return (resp && resp.error) || "the server refused";
  return null;
}

function requestStop() {
  const crawlId = state.crawlId;
  if (!crawlId || state.stopRequested || state.summary) return;
  dispatch({ type: "stop_requested" });
  const onAnswer = function (err, resp) {
    const error = failure(err, resp);
    dispatch({ type: "stop_answered", crawlId: crawlId, ok: error === null, error: error,
      state: resp && resp.state });
  };
  if (socket.connected) {
    socket.request("stop_crawl", { crawl_id: crawlId }, onAnswer);
  } else {
    stopOverRest(crawlId).then(function (data) { onAnswer(null, data); }, function (err) { onAnswer(err); });
  }
}

/** Continues a stopped or interrupted crawl; the view re-attaches to it, counts carried over. */
function requestResume(crawlId, kind) {
  if (!crawlId || state.resuming) return;
  dispatch({ type: "resume_requested" });
  const onAnswer = function (err, resp) {
    const error = failure(err, resp);
    dispatch({ type: "resume_answered", crawlId: crawlId, kind: kind, ok: error === null, error: error,
      state: resp && resp.state });
  };
  if (socket.connected) {
    socket.request("resume_crawl", { crawl_id: crawlId }, onAnswer);
  } else {
    resumeOverRest(crawlId).then(function (data) { onAnswer(null, data); }, function (err) { onAnswer(err); });
  }
}

/** Crawls an ended crawl again with its settings; the view attaches to the new crawl. */
function requestRefresh(crawlId) {
  if (!crawlId || state.refreshing) return;
  dispatch({ type: "refresh_requested" });
  const onAnswer = function (err, resp) {
    const error = failure(err, resp);
    dispatch({ type: "refresh_answered", crawlId: resp && resp.crawl_id, ok: error === null, error: error,
      state: resp && resp.state });
  };
  if (socket.connected) {
    socket.request("refresh_crawl", { crawl_id: crawlId }, onAnswer);
  } else {
    refreshOverRest(crawlId).then(function (data) { onAnswer(null, data); }, function (err) {
      if (err.status) onAnswer(null, { ok: false, error: err.message });
      else onAnswer(err);
    });
  }
}

function showFormError(message) {
  dispatch({ type: "form_error", message: message });
}

/** Reads and checks the form; null (with the problems shown) when it cannot be sent. */
function formConfig() {
  const read = readForm();
  if (read.problems.length) {
    showFormError(read.problems.join(" "));
    if (!read.config.url) el.url.focus();
    return null;
  }
  return read.config;
}

// ---------------------------------------------------------------- page controls

el.form.addEventListener("submit", function (ev) {
  ev.preventDefault();
  if (busy(state)) return;
  const config = formConfig();
  if (config) requestStart("crawl", config);
});

el.discoverBtn.addEventListener("click", function () {
  if (busy(state)) return;
  const config = formConfig();
  if (config) requestStart("discovery", config);
});

el.stopBtn.addEventListener("click", requestStop);

el.resumeBtn.addEventListener("click", function () {
  if (busy(state)) return;
  requestResume(state.crawlId, state.kind);
});

el.refreshBtn.addEventListener("click", function () {
  if (busy(state)) return;
  requestRefresh(state.crawlId);
});

el.history.addEventListener("click", function (ev) {
  const resumeBtn = ev.target.closest ? ev.target.closest("button.history-resume") : null;
  if (resumeBtn) {
    const resumeRow = resumeBtn.closest("li");
    if (!busy(state)) {
      requestResume(resumeBtn.getAttribute("data-crawl-id"), resumeRow ? resumeRow.getAttribute("data-kind") : null);
    }
    return;
  }
  const btn = ev.target.closest ? ev.target.closest("button.history-show") : null;
  if (!btn || state.starting) return;
  const id = btn.getAttribute("data-crawl-id");
  const row = btn.closest("li");
  if (id) loadCrawl(id, false, row ? row.getAttribute("data-state") : null, row ? row.getAttribute("data-kind") : null);
});

el.historyRefresh.addEventListener("click", function () { requestSync(); });

initDiscovery({
  busy: function () { return busy(state); },
  readForm: readForm,
  showFormError: showFormError,
  startCrawl: function (config) { requestStart("crawl", config); }
});
initLog();
initReader({ current: function () { return { crawlId: state.crawlId, kind: state.kind }; } });
initSearch();
initSchedules();
initPages();
initServerPanel();
initKeys();
// The speed samples of crawls shown before (a reload, or a crawl re-opened from the list).
dispatch({ type: "series_cache_loaded", cache: loadSeriesCache() });
window.addEventListener("pagehide", function () { saveSeriesCache(state.seriesCache); });

// ---------------------------------------------------------------- boot

socket = connect(requestSync, function (name, payload) {
  dispatch({ type: "event", name: name, payload: payload });
}, checkKeyStillValid);
resetProgress();
renderChart(state);
renderStatus(state);
renderSelectionButton();
renderReaderButton(state);
requestSync();
