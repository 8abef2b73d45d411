/*
 * Crawler Dashboard — browser client.
 *
 * Talks to the server over Socket.IO (start/stop of crawls and discoveries, live events) and a
 * small REST API (crawl list, crawl details for re-attaching after a reload or reconnect, the URL
 * list of a discovery).
 * Event names and payload fields follow docs/events.md.
 *
 * Every piece of text that comes from the server (URLs, titles, messages, errors) is put into
 * the page with textContent only, never parsed as HTML.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------- constants

  var PAGE_ROWS_MAX = 200;      // rows kept in the page list
  var LOG_LINES_MAX = 1000;     // lines kept in the log
  var EVENT_BUFFER_MAX = 5000;  // events held while a start or an attach is being resolved
  var ACK_TIMEOUT_MS = 15000;

  var ACTIVE_STATES = ["queued", "discovering", "running", "stopping"];
  var TERMINAL_STATES = ["stopped", "completed", "failed", "interrupted"];
  var RESUMABLE_STATES = ["stopped", "interrupted"];  // ended before the frontier was exhausted
  var STATE_RANK = {
    queued: 0, discovering: 1, running: 2, stopping: 3, stopped: 4, completed: 4, failed: 4, interrupted: 4
  };
  var STATE_LABELS = {
    queued: "Queued", discovering: "Discovering…", running: "Running", stopping: "Stopping…",
    stopped: "Stopped", completed: "Completed", failed: "Failed", interrupted: "Interrupted"
  };
  var SOURCES = ["start", "link", "sitemap", "selection"];
  var STAGES = ["fetching", "parsing", "extracting", "storing", "done"];
  var STAGE_TIME_KEYS = ["fetch", "parse", "extract", "store"];
  var PAGE_STATUSES = ["active", "ok", "failed", "skipped"];
  var LOG_LEVELS = ["debug", "info", "warning", "error"];
  var DOWNLOAD_FORMATS = [
    { key: "zip", label: "ZIP archive" },
    { key: "jsonl", label: "JSONL manifest" },
    { key: "markdown", label: "Markdown" },
    { key: "llms", label: "llms.txt" },
    { key: "llms-full", label: "llms-full.txt" }
  ];

  // ---------------------------------------------------------------- elements

  function $(id) { return document.getElementById(id); }

  var el = {
    form: $("crawl-form"),
    url: $("url"),
    maxPages: $("max_pages"),
    maxDepth: $("max_depth"),
    concurrency: $("concurrency"),
    scope: $("scope"),
    include: $("include"),
    exclude: $("exclude"),
    respectRobots: $("respect_robots"),
    timeout: $("timeout"),
    perHost: $("per_host_concurrency"),
    delay: $("delay"),
    useSitemaps: $("use_sitemaps"),
    maxRetries: $("max_retries"),
    userAgent: $("user_agent"),
    startBtn: $("start-btn"),
    discoverBtn: $("discover-btn"),
    stopBtn: $("stop-btn"),
    resumeBtn: $("resume-btn"),
    formError: $("form-error"),
    crawlState: $("crawl-state"),
    crawlId: $("crawl-id"),
    crawlMessage: $("crawl-message"),
    progressBar: $("progress-bar"),
    progressPercent: $("progress-percent"),
    progressCount: $("progress-count"),
    progressGrowing: $("progress-growing"),
    progressUnit: $("progress-unit"),
    currentUrl: $("current-url"),
    currentStage: $("current-stage"),
    speed: $("speed"),
    eta: $("eta"),
    elapsed: $("elapsed"),
    countOk: $("count-ok"),
    countFailed: $("count-failed"),
    countSkipped: $("count-skipped"),
    inFlight: $("in-flight"),
    queued: $("queued"),
    discovered: $("discovered"),
    skipReasons: $("skip-reasons"),
    backoff: $("backoff"),
    pageList: $("page-list"),
    log: $("log"),
    logResume: $("log-resume"),
    downloads: $("downloads"),
    history: $("history"),
    historyRefresh: $("history-refresh"),
    connection: $("connection"),
    connMessage: $("conn-message"),
    reconnectBtn: $("reconnect-btn"),
    discovery: $("discovery"),
    discoveryClose: $("discovery-close"),
    discoverySummary: $("discovery-summary"),
    discoveryFilter: $("discovery-filter"),
    discoveryTree: $("discovery-tree"),
    discoveryEmpty: $("discovery-empty"),
    selectAll: $("select-all"),
    selectNone: $("select-none"),
    selectionCount: $("selection-count"),
    crawlSelectedBtn: $("crawl-selected-btn")
  };

  // ---------------------------------------------------------------- small helpers

  function isIn(list, value) { return list.indexOf(value) !== -1; }
  function isActive(state) { return isIn(ACTIVE_STATES, state); }
  function isTerminal(state) { return isIn(TERMINAL_STATES, state); }

  function num(value) {
    var n = typeof value === "number" ? value : Number(value);
    return isFinite(n) ? n : 0;
  }

  function isNum(value) { return typeof value === "number" && isFinite(value); }

  function text(node, value) {
    var s = value === null || value === undefined ? "" : String(value);
    if (node.textContent !== s) node.textContent = s;
  }

  function make(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function pad2(n) { return n < 10 ? "0" + n : String(n); }

  /** 42 → "42s", 65 → "1m 05s", 3725 → "1h 02m 05s"; null/invalid → "—". */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0) return "—";
    var t = Math.round(seconds);
    var h = Math.floor(t / 3600);
    var m = Math.floor((t % 3600) / 60);
    var s = t % 60;
    if (h > 0) return h + "h " + pad2(m) + "m " + pad2(s) + "s";
    if (m > 0) return m + "m " + pad2(s) + "s";
    return s + "s";
  }

  function formatSeconds(seconds) {
    var s = num(seconds);
    if (s >= 60) return formatDuration(s);
    if (s >= 1) return s.toFixed(1) + " s";
    if (s > 0 && s < 0.01) return "<0.01 s";
    return s.toFixed(2) + " s";
  }

  function parseTime(iso) {
    if (typeof iso !== "string" || !iso) return null;
    var d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }

  function formatClock(iso) {
    var d = parseTime(iso);
    if (!d) return typeof iso === "string" ? iso : "";
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function formatDateTime(iso) {
    var d = parseTime(iso);
    if (!d) return typeof iso === "string" ? iso : "";
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) +
      " " + pad2(d.getHours()) + ":" + pad2(d.getMinutes());
  }

  function isHttpUrl(value) { return typeof value === "string" && /^https?:\/\//i.test(value); }

  /** A same-origin path such as "/api/crawls/x/download?format=zip" (never "//host" or "javascript:"). */
  function isLocalPath(value) { return typeof value === "string" && /^\/(?!\/)/.test(value) && !/[\\\s]/.test(value); }

  function downloadPath(crawlId, format) {
    return "/api/crawls/" + encodeURIComponent(crawlId) + "/download?format=" + encodeURIComponent(format);
  }

  function errorMessage(err, fallback) {
    if (!err) return fallback;
    if (typeof err === "string") return err;
    if (err.message) return err.message;
    return fallback;
  }

  // ---------------------------------------------------------------- REST

  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (res) {
      return res.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var msg = data && typeof data.error === "string" ? data.error : "HTTP " + res.status + " " + res.statusText;
          var err = new Error(msg);
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }

  // ---------------------------------------------------------------- view state

  /** The crawl the page is showing; events for any other crawl are ignored. */
  var view = {
    crawlId: null,
    kind: "crawl",        // "crawl" or "discovery" (a discovery lists pages and stores none)
    state: null,          // last known state of the shown crawl
    summary: null,        // set when the crawl has ended
    message: "",          // last crawler_status message
    stopRequested: false, // Stop clicked, waiting for the server to confirm
    lastProgress: null,
    downloads: null,      // download links from GET /api/crawls/<id>, if the summary has none
    token: 0,             // bumps on every attach; late async answers for an older view are dropped
    loading: false,       // details of the shown crawl are being fetched; events are held meanwhile
    attaching: false,     // first load of the shown crawl's details (nothing to show yet)
    held: []
  };

  var starting = false;   // start_crawl / start_discovery sent, waiting for its acknowledgement
  var startingKind = "crawl";
  var startHeld = [];     // events of not-yet-known crawls received while starting

  // ---------------------------------------------------------------- form

  function showFormError(message) {
    text(el.formError, message);
    el.formError.hidden = !message;
  }

  function lines(value) {
    return String(value || "").split(/\r?\n/).map(function (s) { return s.trim(); })
      .filter(function (s) { return s.length > 0; });
  }

  function numberField(input, key, label, config, problems) {
    if (input.validity && input.validity.badInput) {
      problems.push(label + " must be a number.");
      return;
    }
    var raw = input.value.trim();
    if (raw === "") return; // left empty: the server applies its default
    config[key] = Number(raw);
  }

  /** Reads the form into a crawl configuration; returns {config, problems}. */
  function readForm() {
    var config = {};
    var problems = [];
    config.url = el.url.value.trim();
    if (!config.url) problems.push("Enter a start URL.");
    numberField(el.maxPages, "max_pages", "Max pages", config, problems);
    numberField(el.maxDepth, "max_depth", "Max depth", config, problems);
    numberField(el.concurrency, "concurrency", "Concurrency", config, problems);
    config.scope = el.scope.value;
    config.include = lines(el.include.value);
    config.exclude = lines(el.exclude.value);
    config.respect_robots = !!el.respectRobots.checked;
    numberField(el.timeout, "timeout", "Timeout", config, problems);
    numberField(el.perHost, "per_host_concurrency", "Per host", config, problems);
    numberField(el.delay, "delay", "Delay", config, problems);
    numberField(el.maxRetries, "max_retries", "Max retries", config, problems);
    config.use_sitemaps = !!el.useSitemaps.checked;
    var agent = el.userAgent.value.trim();
    if (agent) config.user_agent = agent; // empty: the server's own agent
    return { config: config, problems: problems };
  }

  /** Shows the configuration of an attached crawl in the form. */
  function fillForm(config) {
    if (!config || typeof config !== "object") return;
    if (typeof config.url === "string") el.url.value = config.url;
    if (config.max_pages !== undefined) el.maxPages.value = String(config.max_pages);
    if (config.max_depth !== undefined) el.maxDepth.value = String(config.max_depth);
    if (config.concurrency !== undefined) el.concurrency.value = String(config.concurrency);
    if (config.timeout !== undefined) el.timeout.value = String(config.timeout);
    if (config.per_host_concurrency !== undefined) el.perHost.value = String(config.per_host_concurrency);
    if (config.delay !== undefined) el.delay.value = String(config.delay);
    if (config.max_retries !== undefined) el.maxRetries.value = String(config.max_retries);
    if (config.scope === "prefix" || config.scope === "host" || config.scope === "subdomains") el.scope.value = config.scope;
    if (typeof config.use_sitemaps === "boolean") el.useSitemaps.checked = config.use_sitemaps;
    if (typeof config.user_agent === "string") {
      // The server's default agent is the field's placeholder: leave the field empty for it.
      el.userAgent.value = config.user_agent === el.userAgent.placeholder ? "" : config.user_agent;
    }
    if (Array.isArray(config.include)) el.include.value = config.include.join("\n");
    if (Array.isArray(config.exclude)) el.exclude.value = config.exclude.join("\n");
    if (typeof config.respect_robots === "boolean") el.respectRobots.checked = config.respect_robots;
  }

  // ---------------------------------------------------------------- crawl state label and buttons

  function finalLabel(summary) {
    var ok = num(summary.ok);
    if (view.kind === "discovery") {
      var found = isNum(summary.discovered) ? summary.discovered : num(view.lastProgress && view.lastProgress.discovered);
      switch (summary.state) {
        case "stopped": return "Discovery stopped: " + found + " pages found";
        case "interrupted": return "Discovery interrupted: " + found + " pages found";
        case "completed": return "Discovery completed: " + found + " pages found";
        case "failed": return "Failed: " + (summary.stop_reason || view.message || "unknown reason");
        default: return STATE_LABELS[summary.state] || "Ended";
      }
    }
    switch (summary.state) {
      case "stopped": return "Stopped: " + ok + " pages kept";
      case "interrupted": return "Interrupted (" + (summary.stop_reason || "the server stopped") + "): " +
        ok + " pages kept";
      case "completed": return "Completed: " + ok + " pages saved";
      case "failed": return "Failed: " + (summary.stop_reason || view.message || "unknown reason");
      default: return STATE_LABELS[summary.state] || "Ended";
    }
  }

  function renderState() {
    var label;
    var dataState;
    if (starting) {
      label = startingKind === "discovery" ? "Starting discovery…" : "Starting…";
      dataState = "starting";
    } else if (!view.crawlId) {
      label = "Idle";
      dataState = "idle";
    } else if (view.attaching) {
      label = "Loading…";
      dataState = "loading";
    } else if (view.summary) {
      label = finalLabel(view.summary);
      dataState = view.summary.state || view.state || "ended";
    } else if (view.stopRequested && !isTerminal(view.state)) {
      label = "Stopping…";
      dataState = "stopping";
    } else if (view.state === "failed" && view.message) {
      label = "Failed: " + view.message;
      dataState = "failed";
    } else {
      label = STATE_LABELS[view.state] || (view.loading ? "Loading…" : "Unknown");
      dataState = view.state || "unknown";
    }
    text(el.crawlState, label);
    el.crawlState.setAttribute("data-state", dataState);

    var running = busy();
    el.startBtn.disabled = starting || running;
    el.discoverBtn.disabled = starting || running;
    var stoppable = !!view.crawlId && !view.summary && !view.stopRequested &&
      (view.state === "queued" || view.state === "discovering" || view.state === "running");
    el.stopBtn.disabled = !stoppable;
    var stopping = !view.summary && (view.stopRequested || view.state === "stopping");
    text(el.stopBtn, stopping ? "Stopping…" : "Stop");
    var resumable = !!view.crawlId && !!view.summary && isIn(RESUMABLE_STATES, view.summary.state);
    el.resumeBtn.hidden = !resumable;
    el.resumeBtn.disabled = !resumable || resuming || starting;
    text(el.resumeBtn, resuming ? "Resuming…" : "Resume");
    text(el.startBtn, starting && startingKind === "crawl" ? "Starting…" : "Start crawl");
    text(el.discoverBtn, starting && startingKind === "discovery" ? "Starting…" : "Discover pages");
    renderSelectionButton();
  }

  /** A start is pending or the crawl on show is still going: no second one from this page. */
  function busy() {
    return starting || (!!view.crawlId && isActive(view.state) && !view.summary);
  }

  /** States only move forward (queued → discovering → running → stopping → ended), whatever order events arrive in. */
  function advanceState(state) {
    if (!Object.prototype.hasOwnProperty.call(STATE_RANK, state)) return false;
    if (view.state && STATE_RANK[state] < STATE_RANK[view.state]) return false;
    if (view.state === state) return false;
    view.state = state;
    return true;
  }

  // ---------------------------------------------------------------- progress

  function resetProgress() {
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
    text(el.inFlight, "0");
    text(el.queued, "0");
    text(el.discovered, "0");
    renderSkipReasons(null);
    setBackoff(null);
    renderStageCounts(null);
    renderStageTimes(null);
  }

  /** "robots 12 · out_of_scope 40 · …": one element per reason code, most frequent first. */
  function renderSkipReasons(reasons) {
    var entries = [];
    if (reasons && typeof reasons === "object") {
      Object.keys(reasons).forEach(function (code) {
        var n = num(reasons[code]);
        if (n > 0) entries.push([code, n]);
      });
    }
    entries.sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); });
    var signature = entries.map(function (e) { return e[0] + "=" + e[1]; }).join(",");
    if (el.skipReasons._signature === signature) return;
    el.skipReasons._signature = signature;
    var frag = document.createDocumentFragment();
    entries.forEach(function (e) {
      var item = make("span", "skip-reason", e[0] + " " + e[1]);
      item.setAttribute("data-reason", e[0]);
      item.setAttribute("data-count", String(e[1]));
      frag.appendChild(item);
    });
    while (el.skipReasons.firstChild) el.skipReasons.removeChild(el.skipReasons.firstChild);
    el.skipReasons.appendChild(frag);
  }

  // Hosts backing off, counted down between snapshots (which bring the server's own figure).
  var backoffHosts = [];   // [{host, reason, until}] with `until` on performance.now()'s clock
  var backoffTimer = null;

  function setBackoff(list) {
    var now = performance.now();
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
    var now = performance.now();
    // A back-off that has run out here is over (the next snapshot confirms it).
    backoffHosts = backoffHosts.filter(function (b) { return b.until > now; });
    var rows = el.backoff.children;
    var i;
    for (i = 0; i < backoffHosts.length; i++) {
      var b = backoffHosts[i];
      var left = Math.max(1, Math.ceil((b.until - now) / 1000));
      var line = "" + b.host + ": backing off " + left + " s" + (b.reason ? " (" + b.reason + ")" : "");
      var row = rows[i];
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
    for (var i = 0; i < 4; i++) {
      var name = STAGES[i];
      text($("stage-" + name), String(num(stages && stages[name])));
    }
  }

  function renderStageTimes(stageSeconds) {
    var total = 0;
    var values = {};
    STAGE_TIME_KEYS.forEach(function (key) {
      var v = Math.max(0, num(stageSeconds && stageSeconds[key]));
      values[key] = v;
      total += v;
    });
    STAGE_TIME_KEYS.forEach(function (key) {
      var share = total > 0 ? values[key] / total * 100 : 0;
      text($("time-" + key), formatSeconds(values[key]));
      text($("share-" + key), Math.round(share) + "%");
      $("bar-" + key).style.width = share.toFixed(1) + "%";
    });
  }

  function renderProgress(p) {
    var current = num(p.current);
    var total = num(p.total);
    var percent = isNum(p.percent) ? p.percent : (total > 0 ? current / total * 100 : 0);
    percent = Math.max(0, Math.min(100, percent));
    var growing = p.total_final === false;

    el.progressBar.value = percent;
    el.progressBar.classList.toggle("growing", growing);
    text(el.progressPercent, percent.toFixed(1) + "%");
    if (view.kind === "discovery" || p.state === "discovering") {
      // Finding pages (a discovery, or a crawl reading robots.txt and sitemaps): the number found.
      text(el.progressCount, String(num(p.discovered)));
      text(el.progressUnit, "pages discovered" + (view.kind === "discovery" ? " · " + current + " fetched" : ""));
    } else {
      text(el.progressCount, current + " / " + total + (growing ? "+" : ""));
      text(el.progressUnit, "pages");
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
    text(el.eta, formatDuration(p.eta));
    text(el.elapsed, formatDuration(p.elapsed));
    text(el.countOk, String(num(p.ok)));
    text(el.countFailed, String(num(p.failed)));
    text(el.countSkipped, String(num(p.skipped)));
    text(el.inFlight, String(num(p.in_flight)));
    text(el.queued, String(num(p.queued)));
    text(el.discovered, String(num(p.discovered)));
    renderSkipReasons(p.skip_reasons);
    setBackoff(p.backoff);
    renderStageCounts(p.stages);
    renderStageTimes(p.stage_seconds);
    updateHistoryCounts(p);
  }

  // ---------------------------------------------------------------- downloads

  function renderDownloads(summary) {
    while (el.downloads.firstChild) el.downloads.removeChild(el.downloads.firstChild);
    var handled = isNum(summary.pages_handled) ? summary.pages_handled
      : num(summary.ok) + num(summary.failed) + num(summary.skipped);
    if (!view.crawlId || handled <= 0 || view.kind === "discovery") { // a discovery stores no pages
      el.downloads.hidden = true;
      return;
    }
    var links = summary.downloads && typeof summary.downloads === "object" ? summary.downloads
      : (view.downloads || {});
    el.downloads.appendChild(make("span", "downloads-label", "Download:"));
    DOWNLOAD_FORMATS.forEach(function (f) {
      var href = isLocalPath(links[f.key]) ? links[f.key] : downloadPath(view.crawlId, f.key);
      var a = make("a", "btn btn-small download-" + f.key, f.label);
      a.href = href;
      el.downloads.appendChild(a);
    });
    el.downloads.hidden = false;
  }

  // ---------------------------------------------------------------- page list

  var pageRows = new Map(); // url → row element (one row per URL, updated in place)

  function clearPages() {
    pageRows.clear();
    while (el.pageList.firstChild) el.pageList.removeChild(el.pageList.firstChild);
  }

  function makePageRow(url) {
    var row = make("li", "page-row");
    row.setAttribute("data-url", url);
    var status = make("span", "page-status");
    var main = make("div", "page-main");
    var link;
    if (isHttpUrl(url)) {
      link = make("a", "page-url", url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    } else {
      link = make("span", "page-url", url);
    }
    link.title = url;
    var title = make("span", "page-title");
    var source = make("span", "source-badge page-source");
    var error = make("span", "page-error");
    main.appendChild(link);
    main.appendChild(title);
    main.appendChild(source);
    main.appendChild(error);
    row.appendChild(status);
    row.appendChild(main);
    row._parts = { status: status, title: title, source: source, error: error };
    return row;
  }

  /** How far a transition is: a stage's index while active, past every stage once finished. */
  function pageRank(status, stage) {
    if (status !== "active") return STAGES.length;
    var i = STAGES.indexOf(stage);
    return i === -1 ? 0 : i;
  }

  function updatePageRow(row, page) {
    var parts = row._parts;
    var status = isIn(PAGE_STATUSES, page.status) ? page.status : "active";
    var stage = isIn(STAGES, page.stage) ? page.stage : "";
    // A page only moves forward: a transition replayed from `recent_pages` or held while the
    // crawl's details loaded never takes a row back to an earlier stage.
    var rank = pageRank(status, stage);
    if (row._rank !== undefined && rank < row._rank) return;
    row._rank = rank;
    row.className = "page-row status-" + status + (stage ? " stage-" + stage : "");
    var reason = status !== "active" && status !== "ok" && typeof page.reason === "string" && page.reason ? page.reason : "";
    var label = status === "active" ? (page.stage || "active") : page.status + (reason ? " · " + reason : "");
    text(parts.status, label);
    parts.status.title = label;
    if (reason) row.setAttribute("data-reason", reason);
    else row.removeAttribute("data-reason");
    if (typeof page.source === "string" && page.source) {
      // Only the first transition of a page names its source; later ones may leave it null.
      text(parts.source, page.source);
      parts.source.setAttribute("data-source", isIn(SOURCES, page.source) ? page.source : "other");
      row.setAttribute("data-source", page.source);
    }
    if (page.title !== null && page.title !== undefined && page.title !== "") text(parts.title, page.title);
    text(parts.error, page.error ? page.error : "");
    if (isNum(page.depth)) row.setAttribute("data-depth", String(page.depth));
  }

  /** Pages still shown in a stage when the crawl ends never finished (e.g. abandoned on stop). */
  function markUnfinishedPages() {
    pageRows.forEach(function (row) {
      if (!row.classList.contains("status-active")) return;
      row.className = "page-row status-unfinished";
      text(row._parts.status, "unfinished");
    });
  }

  function handlePages(payload) {
    var pages = Array.isArray(payload.pages) ? payload.pages : [];
    if (pages.length > PAGE_ROWS_MAX * 2) pages = pages.slice(pages.length - PAGE_ROWS_MAX * 2);
    var fresh = [];
    for (var i = 0; i < pages.length; i++) {
      var page = pages[i];
      if (!page || typeof page.url !== "string") continue;
      var row = pageRows.get(page.url);
      if (!row) {
        row = makePageRow(page.url);
        pageRows.set(page.url, row);
        fresh.push(row);
      }
      updatePageRow(row, page);
    }
    if (fresh.length) {
      // Newest first: one insertion for the whole batch.
      var frag = document.createDocumentFragment();
      for (var j = fresh.length - 1; j >= 0; j--) frag.appendChild(fresh[j]);
      el.pageList.insertBefore(frag, el.pageList.firstChild);
    }
    while (pageRows.size > PAGE_ROWS_MAX && el.pageList.lastElementChild) {
      var last = el.pageList.lastElementChild;
      pageRows.delete(last.getAttribute("data-url"));
      el.pageList.removeChild(last);
    }
  }

  // ---------------------------------------------------------------- log

  var logFollow = true;     // keep the newest line in view
  var logUnseen = 0;        // lines added while auto-scroll is paused
  var logQueue = [];        // lines waiting for the next paint
  var logFlushScheduled = false;
  var logSeqs = new Set();  // seq of every numbered line queued or shown: each is shown once
  var logFloor = 0;         // numbered lines up to this seq were trimmed from the top; never re-added

  /** A line's number in its crawl (1, 2, 3…), or null for a line the server added itself. */
  function logSeq(entry) {
    return isNum(entry.seq) ? entry.seq : null;
  }

  function clearLog() {
    logQueue = [];
    logSeqs.clear();
    logFloor = 0;
    logUnseen = 0;
    logFollow = true;
    while (el.log.firstChild) el.log.removeChild(el.log.firstChild);
    renderLogResume();
  }

  /**
   * Queues one line. Numbered lines are shown once each and in seq order, however they arrive
   * (`recent_log` of GET /api/crawls/<id>, live `crawler_log`, or both after a reload or a
   * reconnect); lines with a null seq ("N log lines skipped to keep up") are always kept.
   */
  function addLog(entry) {
    if (!entry || typeof entry !== "object") return;
    var seq = logSeq(entry);
    if (seq !== null) {
      if (seq <= logFloor || logSeqs.has(seq)) return;
      logSeqs.add(seq);
    }
    logQueue.push({ seq: seq, entry: entry });
    if (logQueue.length > LOG_LINES_MAX) {
      var dropped = logQueue.splice(0, logQueue.length - LOG_LINES_MAX);
      dropped.forEach(function (item) {
        if (item.seq !== null) logFloor = Math.max(logFloor, item.seq);
      });
    }
    scheduleLogFlush();
  }

  function scheduleLogFlush() {
    if (logFlushScheduled) return;
    logFlushScheduled = true;
    var done = false;
    var run = function () {
      if (done) return;
      done = true;
      logFlushScheduled = false;
      flushLog();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250); // background tabs do not paint
  }

  function makeLogLine(entry) {
    var rawLevel = typeof entry.level === "string" ? entry.level.toLowerCase() : "info";
    var level = rawLevel === "warn" ? "warning" : rawLevel;
    if (!isIn(LOG_LEVELS, level)) level = "info";
    var line = make("div", "log-line log-" + level);
    var time = make("span", "log-time", formatClock(entry.timestamp));
    if (typeof entry.timestamp === "string") time.title = entry.timestamp;
    line.appendChild(time);
    line.appendChild(make("span", "log-level", rawLevel || "info"));
    line.appendChild(make("span", "log-msg", entry.message));
    return line;
  }

  /** The highest seq shown (numbered lines are kept in seq order, so: the last numbered one). */
  function lastShownSeq() {
    for (var node = el.log.lastElementChild; node; node = node.previousElementSibling) {
      if (node._seq !== null && node._seq !== undefined) return node._seq;
    }
    return 0;
  }

  /** Puts a numbered line that is older than the newest shown one after the last line older than it. */
  function insertBySeq(line, seq) {
    var ref = el.log.lastElementChild;
    while (ref && (ref._seq === null || ref._seq > seq)) ref = ref.previousElementSibling;
    el.log.insertBefore(line, ref ? ref.nextSibling : el.log.firstChild);
  }

  function flushLog() {
    if (!logQueue.length) return;
    var items = logQueue;
    logQueue = [];
    var newest = lastShownSeq();
    var frag = document.createDocumentFragment();
    for (var i = 0; i < items.length; i++) {
      var seq = items[i].seq;
      var line = makeLogLine(items[i].entry);
      line._seq = seq;
      if (seq !== null) line.setAttribute("data-seq", String(seq));
      if (seq === null || seq > newest) {
        frag.appendChild(line);  // the usual case: in order, appended in one go
        if (seq !== null) newest = seq;
      } else {
        el.log.appendChild(frag);  // a gap being filled: place it by seq
        insertBySeq(line, seq);
      }
    }
    el.log.appendChild(frag);
    var excess = el.log.childElementCount - LOG_LINES_MAX;
    while (excess-- > 0) {
      var first = el.log.firstElementChild;
      if (first._seq !== null && first._seq !== undefined) {
        logSeqs.delete(first._seq);
        logFloor = Math.max(logFloor, first._seq);
      }
      el.log.removeChild(first);
    }
    if (logFollow) {
      el.log.scrollTop = el.log.scrollHeight;
    } else {
      logUnseen += items.length;
      renderLogResume();
    }
  }

  function logAtBottom() {
    return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight <= 8;
  }

  function renderLogResume() {
    if (logFollow) {
      el.logResume.hidden = true;
      return;
    }
    el.logResume.hidden = false;
    text(el.logResume, logUnseen > 0
      ? "Resume auto-scroll · " + logUnseen + " new line" + (logUnseen === 1 ? "" : "s")
      : "Resume auto-scroll");
  }

  el.log.addEventListener("scroll", function () {
    var atBottom = logAtBottom();
    if (atBottom && !logFollow) {
      logFollow = true;
      logUnseen = 0;
      renderLogResume();
    } else if (!atBottom && logFollow) {
      logFollow = false;
      renderLogResume();
    }
  }, { passive: true });

  // A narrower or wider log re-wraps its lines; stay pinned to the bottom while following.
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(function () {
      if (logFollow) el.log.scrollTop = el.log.scrollHeight;
    }).observe(el.log);
  }

  el.logResume.addEventListener("click", function () {
    logFollow = true;
    logUnseen = 0;
    el.log.scrollTop = el.log.scrollHeight;
    renderLogResume();
  });

  // ---------------------------------------------------------------- attaching a crawl to the view

  /** Starts showing a crawl: clears the panels and makes its events count. Returns the view token. */
  function attachView(crawlId, state, kind) {
    view.token += 1;
    view.crawlId = crawlId;
    view.kind = kind === "discovery" ? "discovery" : "crawl";
    view.state = Object.prototype.hasOwnProperty.call(STATE_RANK, state) ? state : null;
    view.summary = null;
    view.message = "";
    view.stopRequested = false;
    view.lastProgress = null;
    view.downloads = null;
    view.loading = false;
    view.attaching = false;
    view.held = [];
    text(el.crawlId, crawlId || "");
    text(el.crawlMessage, "");
    resetProgress();
    clearPages();
    clearLog();
    el.downloads.hidden = true;
    renderState();
    markHistoryCurrent();
    return view.token;
  }

  /** Applies GET /api/crawls/<id> to the view. `refresh` = catching up on a crawl already shown. */
  function applyDetails(data, refresh) {
    if (!data || typeof data !== "object") return;
    if (!refresh) fillForm(data.config);
    if (data.kind === "discovery" || data.kind === "crawl") view.kind = data.kind;
    if (typeof data.state === "string") advanceState(data.state);
    if (data.progress && typeof data.progress === "object") handleProgress(data.progress);
    if (data.downloads && typeof data.downloads === "object") view.downloads = data.downloads;
    if (Array.isArray(data.recent_pages) && data.recent_pages.length) {
      // The last page transitions, oldest first: rebuilds the page list after a reload or a reconnect.
      handlePages({ pages: data.recent_pages });
    }
    if (Array.isArray(data.recent_log)) {
      for (var i = 0; i < data.recent_log.length; i++) addLog(data.recent_log[i]);
    }
    if (data.summary && typeof data.summary === "object") {
      handleFinished({ crawl_id: view.crawlId, state: data.summary.state || data.state, summary: data.summary });
    } else if (isTerminal(data.state) && !view.summary) {
      // Ended but no summary recorded: show what the last snapshot knows.
      var p = view.lastProgress || {};
      handleFinished({ crawl_id: view.crawlId, state: data.state, summary: {
        state: data.state, ok: p.ok, failed: p.failed, skipped: p.skipped
      } });
    }
    renderState();
  }

  /** Fetches a crawl's details and shows them; events arriving meanwhile are replayed afterwards. */
  function loadCrawl(crawlId, refresh, knownState, knownKind) {
    var token = refresh ? view.token : attachView(crawlId, knownState, knownKind);
    view.loading = true;
    if (!refresh) view.attaching = true;
    renderState();
    return api("GET", "/api/crawls/" + encodeURIComponent(crawlId)).then(function (data) {
      if (token !== view.token) return;
      applyDetails(data, refresh);
    }, function (err) {
      if (token !== view.token) return;
      if (err.status === 404) {
        text(el.crawlMessage, "This crawl no longer exists on the server.");
        if (!view.summary) {
          view.state = null;
          view.stopRequested = false;
        }
      } else {
        text(el.crawlMessage, "Could not load the crawl: " + errorMessage(err, "request failed"));
      }
    }).then(function () {
      if (token !== view.token) return;
      view.loading = false;
      view.attaching = false;
      var held = view.held;
      view.held = [];
      held.forEach(function (item) { handleEvent(item[0], item[1]); });
      renderState();
    });
  }

  // ---------------------------------------------------------------- server events

  function handleProgress(p) {
    var last = view.lastProgress;
    if (last && typeof last.timestamp === "string" && typeof p.timestamp === "string" &&
        p.timestamp < last.timestamp) return; // an older snapshot than the one shown
    view.lastProgress = p;
    if (typeof p.state === "string" && advanceState(p.state)) renderState();
    if (!view.summary) renderProgress(p);
  }

  function handleStatus(p) {
    if (typeof p.message === "string") {
      view.message = p.message;
      text(el.crawlMessage, p.message);
    }
    advanceState(p.state);
    renderState();
    scheduleHistoryRefresh();
  }

  function handleFinished(p) {
    var summary = p.summary && typeof p.summary === "object" ? p.summary : {};
    var state = isTerminal(p.state) ? p.state : (isTerminal(summary.state) ? summary.state : "completed");
    if (summary.kind === "discovery" || summary.kind === "crawl") view.kind = summary.kind;
    view.summary = Object.assign({}, summary, { state: state });
    view.state = state;
    view.stopRequested = false;

    // The summary is the final word on the counts and stage times.
    if (view.lastProgress) renderProgress(view.lastProgress);
    if (summary.ok !== undefined) text(el.countOk, String(num(summary.ok)));
    if (summary.failed !== undefined) text(el.countFailed, String(num(summary.failed)));
    if (summary.skipped !== undefined) text(el.countSkipped, String(num(summary.skipped)));
    if (summary.stage_seconds) renderStageTimes(summary.stage_seconds);
    if (isNum(summary.duration)) text(el.elapsed, formatDuration(summary.duration));
    if (summary.skip_reasons && typeof summary.skip_reasons === "object") renderSkipReasons(summary.skip_reasons);
    if (isNum(summary.discovered)) text(el.discovered, String(summary.discovered));
    if (view.kind === "discovery" && isNum(summary.discovered)) text(el.progressCount, String(summary.discovered));
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
    if (summary.stop_reason) text(el.crawlMessage, summary.stop_reason);
    flushLog();
    markUnfinishedPages();
    renderDownloads(view.summary);
    updateHistoryFromSummary(view.summary);
    renderState();
    if (view.kind === "discovery") loadDiscovery(view.crawlId);
  }

  function handleEvent(type, p) {
    switch (type) {
      case "crawler_status": handleStatus(p); break;
      case "crawler_detailed_progress": handleProgress(p); break;
      case "crawler_page": handlePages(p); break;
      case "crawler_log": addLog(p); break;
      case "crawler_finished":
        if (!view.summary) handleFinished(p);
        break;
    }
  }

  /** Routes an event: only the crawl on show counts (events are held while that is being settled). */
  function onServerEvent(type, p) {
    if (!p || typeof p !== "object") return;
    if (type === "crawler_finished") scheduleHistoryRefresh();
    var id = p.crawl_id;
    if (!id) return;
    if (starting && id !== view.crawlId) {
      if (startHeld.length < EVENT_BUFFER_MAX) startHeld.push([type, p]);
      return;
    }
    if (id !== view.crawlId) {
      // A crawl of this session started elsewhere (another tab, another server, the REST API):
      // list it, and show it live when nothing else is running on screen.
      if (type === "crawler_status" && !starting) requestSync();
      return;
    }
    if (view.loading) {
      if (view.held.length < EVENT_BUFFER_MAX) view.held.push([type, p]);
      return;
    }
    if (type === "crawler_status" && p.state === "queued" && isTerminal(view.state) && !resuming) {
      // The crawl on show was resumed elsewhere (another tab, another server): a new run begins.
      loadCrawl(id, false, "queued", view.kind);
      return;
    }
    handleEvent(type, p);
  }

  // ---------------------------------------------------------------- start / stop

  function startSucceeded(crawlId, kind) {
    starting = false;
    var held = startHeld;
    startHeld = [];
    if (kind === "discovery") closeDiscovery(); // its list replaces the one on show when it ends
    attachView(crawlId, "queued", kind);
    text(el.crawlMessage, kind === "discovery" ? "Discovery queued." : "Crawl queued.");
    held.forEach(function (item) {
      if (item[1].crawl_id === crawlId) handleEvent(item[0], item[1]);
    });
    renderState();
    scheduleHistoryRefresh();
  }

  function startFailed(message) {
    starting = false;
    startHeld = [];
    showFormError(message);
    renderState();
  }

  /**
   * Sends start_crawl or start_discovery (over REST when the socket is down) and attaches the view
   * to the new crawl once the server acknowledges it.
   */
  function requestStart(kind, config) {
    showFormError("");
    starting = true;
    startingKind = kind;
    startHeld = [];
    renderState();

    var noun = kind === "discovery" ? "discovery" : "crawl";
    var onAnswer = function (err, resp) {
      if (!starting) return;
      if (err) {
        startFailed("No answer from the server (" + errorMessage(err, "timed out") + "). Check “Your crawls” before trying again.");
        scheduleHistoryRefresh();
      } else if (resp && resp.ok === true && typeof resp.crawl_id === "string" && resp.crawl_id) {
        startSucceeded(resp.crawl_id, kind);
      } else {
        startFailed(resp && resp.error ? String(resp.error) : "The server refused to start the " + noun + ".");
      }
    };

    if (socket.connected) {
      socket.timeout(ACK_TIMEOUT_MS).emit(kind === "discovery" ? "start_discovery" : "start_crawl", config, onAnswer);
    } else {
      // No live connection: start over REST; the live view attaches once the socket is back.
      api("POST", kind === "discovery" ? "/api/discover" : "/api/crawls", config).then(function (data) {
        onAnswer(null, { ok: true, crawl_id: data && data.crawl_id });
      }, function (err) {
        if (err.status) onAnswer(null, { ok: false, error: err.message });
        else onAnswer(err);
      });
    }
  }

  /** Reads and checks the form; null (with the problems shown) when it cannot be sent. */
  function formConfig() {
    var read = readForm();
    if (read.problems.length) {
      showFormError(read.problems.join(" "));
      if (!read.config.url) el.url.focus();
      return null;
    }
    return read.config;
  }

  el.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (busy()) return;
    var config = formConfig();
    if (config) requestStart("crawl", config);
  });

  el.discoverBtn.addEventListener("click", function () {
    if (busy()) return;
    var config = formConfig();
    if (config) requestStart("discovery", config);
  });

  el.stopBtn.addEventListener("click", function () {
    var crawlId = view.crawlId;
    if (!crawlId || view.stopRequested || view.summary) return;
    view.stopRequested = true;  // "Stopping…" right away, before the server answers
    showFormError("");
    renderState();

    var onAnswer = function (err, resp) {
      if (crawlId !== view.crawlId) return;
      if (err || !resp || resp.ok !== true) {
        var msg = err ? errorMessage(err, "no answer") : (resp && resp.error) || "the server refused";
        if (!view.summary) view.stopRequested = false;
        showFormError("Could not stop the crawl: " + msg);
        renderState();
        return;
      }
      if (typeof resp.state === "string") {
        advanceState(resp.state);
        if (isTerminal(resp.state) && !view.summary) loadCrawl(crawlId, true); // ended before the stop
      }
      renderState();
    };

    if (socket.connected) {
      socket.timeout(ACK_TIMEOUT_MS).emit("stop_crawl", { crawl_id: crawlId }, onAnswer);
    } else {
      api("POST", "/api/crawls/" + encodeURIComponent(crawlId) + "/stop").then(function (data) {
        onAnswer(null, data);
      }, function (err) { onAnswer(err); });
    }
  });

  // ---------------------------------------------------------------- resume

  var resuming = false;

  /** Continues a stopped or interrupted crawl; the view re-attaches to it, counts carried over. */
  function requestResume(crawlId, kind) {
    if (!crawlId || resuming) return;
    resuming = true;
    showFormError("");
    renderState();
    var onAnswer = function (err, resp) {
      resuming = false;
      if (err || !resp || resp.ok !== true) {
        var msg = err ? errorMessage(err, "no answer") : (resp && resp.error) || "the server refused";
        showFormError("Could not resume the crawl: " + msg);
        renderState();
        return;
      }
      loadCrawl(crawlId, false, typeof resp.state === "string" ? resp.state : "queued", kind);
      scheduleHistoryRefresh();
    };
    if (socket.connected) {
      socket.timeout(ACK_TIMEOUT_MS).emit("resume_crawl", { crawl_id: crawlId }, onAnswer);
    } else {
      api("POST", "/api/crawls/" + encodeURIComponent(crawlId) + "/resume").then(function (data) {
        onAnswer(null, data);
      }, function (err) { onAnswer(err); });
    }
  }

  el.resumeBtn.addEventListener("click", function () {
    if (busy()) return;
    requestResume(view.crawlId, view.kind);
  });

  // ---------------------------------------------------------------- history ("Your crawls")

  var historyTimer = null;

  function scheduleHistoryRefresh() {
    if (historyTimer) return;
    historyTimer = setTimeout(function () {
      historyTimer = null;
      api("GET", "/api/crawls").then(function (data) {
        renderHistory(data && Array.isArray(data.crawls) ? data.crawls : []);
      }, function () { /* keep the list as it is; the next refresh tries again */ });
    }, 300);
  }

  function renderHistory(crawls) {
    var frag = document.createDocumentFragment();
    crawls.forEach(function (c) {
      if (!c || typeof c.crawl_id !== "string") return;
      var state = typeof c.state === "string" ? c.state : "unknown";
      var kind = c.kind === "discovery" ? "discovery" : "crawl";
      var row = make("li", "history-row kind-" + kind);
      row.setAttribute("data-crawl-id", c.crawl_id);
      row.setAttribute("data-state", state);
      row.setAttribute("data-kind", kind);

      var top = make("div", "history-top");
      top.appendChild(make("span", "badge badge-" + (STATE_RANK.hasOwnProperty(state) ? state : "unknown"), state));
      if (kind === "discovery") top.appendChild(make("span", "kind-badge", "discovery"));
      var url = make("span", "history-url", c.url || c.crawl_id);
      url.title = c.url || "";
      top.appendChild(url);
      row.appendChild(top);

      var meta = make("div", "history-meta");
      meta.appendChild(make("span", "history-time", formatDateTime(c.created_at)));
      meta.appendChild(make("span", "history-counts", countsText(c, kind)));
      row.appendChild(meta);

      var actions = make("div", "history-actions");
      var show = make("button", "link-btn history-show", "Show");
      show.type = "button";
      show.setAttribute("data-crawl-id", c.crawl_id);
      if (kind === "discovery") show.title = "Show this discovery and the pages it found";
      actions.appendChild(show);
      var handled = num(c.ok) + num(c.failed) + num(c.skipped);
      if (isIn(RESUMABLE_STATES, state)) {
        var resume = make("button", "link-btn history-resume", "Resume");
        resume.type = "button";
        resume.setAttribute("data-crawl-id", c.crawl_id);
        resume.title = "Continue where it stopped; pages already saved are not fetched again";
        actions.appendChild(resume);
      }
      if (kind === "crawl" && isTerminal(state) && handled > 0) appendHistoryDownloads(actions, c.crawl_id, c.downloads);
      row.appendChild(actions);
      frag.appendChild(row);
    });
    while (el.history.firstChild) el.history.removeChild(el.history.firstChild);
    el.history.appendChild(frag);
    markHistoryCurrent();
  }

  function countsText(c, kind) {
    return num(c.ok) + (kind === "discovery" ? " fetched · " : " ok · ") + num(c.failed) + " failed · " +
      num(c.skipped) + " skipped";
  }

  /** Keeps the shown crawl's history row in step with its live progress. */
  function updateHistoryCounts(p) {
    var row = historyRow(view.crawlId);
    if (!row || view.summary || isTerminal(row.getAttribute("data-state"))) return;
    var counts = row.querySelector(".history-counts");
    if (counts) text(counts, countsText(p, row.getAttribute("data-kind")));
    var state = typeof p.state === "string" && STATE_RANK.hasOwnProperty(p.state) ? p.state : null;
    var rowState = row.getAttribute("data-state");
    var badge = row.querySelector(".badge");
    if (state && badge && !isTerminal(state) &&
        (!STATE_RANK.hasOwnProperty(rowState) || STATE_RANK[state] > STATE_RANK[rowState])) {
      text(badge, state);
      badge.className = "badge badge-" + state;
      row.setAttribute("data-state", state);
    }
  }

  /** Shows the end of the crawl on show in its history row at once (the list refresh follows). */
  function updateHistoryFromSummary(summary) {
    var row = historyRow(view.crawlId);
    if (!row) return;
    var state = summary.state;
    row.setAttribute("data-state", state);
    var badge = row.querySelector(".badge");
    if (badge) {
      text(badge, state);
      badge.className = "badge badge-" + state;
    }
    var counts = row.querySelector(".history-counts");
    if (counts && summary.ok !== undefined) text(counts, countsText(summary, view.kind));
    var actions = row.querySelector(".history-actions");
    var handled = num(summary.ok) + num(summary.failed) + num(summary.skipped);
    if (actions && handled > 0 && view.kind === "crawl" && !actions.querySelector(".history-download")) {
      appendHistoryDownloads(actions, view.crawlId, summary.downloads);
    }
  }

  /** Download links of a crawl: the server's own (`downloads` of a summary row) when it sent them. */
  function appendHistoryDownloads(actions, crawlId, links) {
    var given = links && typeof links === "object" ? links : {};
    DOWNLOAD_FORMATS.forEach(function (f) {
      var a = make("a", "history-download history-" + f.key, f.key);
      a.href = isLocalPath(given[f.key]) ? given[f.key] : downloadPath(crawlId, f.key);
      actions.appendChild(a);
    });
  }

  function historyRow(crawlId) {
    var rows = el.history.children;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-crawl-id") === crawlId) return rows[i];
    }
    return null;
  }

  function markHistoryCurrent() {
    var rows = el.history.children;
    for (var i = 0; i < rows.length; i++) {
      rows[i].classList.toggle("current", rows[i].getAttribute("data-crawl-id") === view.crawlId);
    }
  }

  el.history.addEventListener("click", function (ev) {
    var resumeBtn = ev.target.closest ? ev.target.closest("button.history-resume") : null;
    if (resumeBtn) {
      var resumeRow = resumeBtn.closest("li");
      if (!busy()) requestResume(resumeBtn.getAttribute("data-crawl-id"), resumeRow ? resumeRow.getAttribute("data-kind") : null);
      return;
    }
    var btn = ev.target.closest ? ev.target.closest("button.history-show") : null;
    if (!btn || starting) return;
    var id = btn.getAttribute("data-crawl-id");
    var row = btn.closest("li");
    if (id) loadCrawl(id, false, row ? row.getAttribute("data-state") : null, row ? row.getAttribute("data-kind") : null);
  });

  el.historyRefresh.addEventListener("click", function () { requestSync(); });

  // ---------------------------------------------------------------- discovery tree

  /*
   * The pages a discovery found, as a tree of URL path segments (the host at the root). Built once
   * per discovery: pages sit in one flat array in tree order, so every folder owns a contiguous
   * range of it, and checked/matched flags are typed arrays. Folders render their children only
   * when expanded, at most TREE_CHUNK at a time; a change of selection updates the rows on screen
   * in place, and the filter (debounced) re-renders only what is expanded.
   */
  var TREE_CHUNK = 200;          // children of one folder rendered at a time ("Show N more")
  var TREE_OPEN_LEVELS = 2;      // folders at levels 1 and 2 start expanded, deeper ones collapsed
  var TREE_OPEN_BUDGET = 600;    // …as long as that does not put more rows than this on screen
  var FILTER_AUTO_OPEN_MAX = 1000; // a filter with at most this many matches expands their folders
  var FILTER_DEBOUNCE_MS = 150;

  var collator = typeof Intl === "object" && Intl.Collator
    ? new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }) : null;
  function compareNames(a, b) {
    if (collator) return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  var disc = null;  // the discovery on show in the panel (see buildDiscovery)
  var discToken = 0;
  var filterTimer = null;

  function newFolder(name, label, level, parent, path) {
    return {
      name: name, label: label, level: level, parent: parent, path: path,
      sub: new Map(),   // name → folder
      direct: [],       // pages (entries) directly in this folder
      items: null,      // display order: index pages, folders, pages ({folder} or {page: index})
      start: 0, end: 0, // this folder's range in the flat page array
      total: 0, matched: 0, checked: 0,
      open: false, dom: null, shown: 0, index: 0
    };
  }

  /** "https://host:8080/a/b/c.html?q" → {host, folders: ["a", "b"], label: "c.html?q"}. */
  function splitUrl(url) {
    var m = /^([a-z][a-z0-9+.\-]*):\/\/([^\/?#]*)([^?#]*)(\?[^#]*)?/i.exec(url);
    if (!m) return { host: "(other)", folders: [], label: url, isIndex: false };
    var path = m[3] || "/";
    var query = m[4] || "";
    var parts = path.split("/").filter(function (s, i) { return i > 0 || s !== ""; });
    if (parts.length && parts[0] === "") parts.shift();
    var leaf = parts.length ? parts.pop() : "";
    var folders = parts.filter(function (s) { return s !== ""; });
    if (leaf === "") {
      // A directory's own page (…/guide/): shown in that folder under its full path.
      return { host: m[2].toLowerCase(), folders: folders,
        label: "/" + folders.join("/") + (folders.length ? "/" : "") + query, isIndex: true };
    }
    return { host: m[2].toLowerCase(), folders: folders, label: leaf + query, isIndex: false };
  }

  /** Builds the tree of a GET /api/discover/<id> answer. */
  function buildDiscovery(id, data) {
    var list = data && Array.isArray(data.urls) ? data.urls : [];
    var seen = new Set();
    var entries = [];
    var hosts = new Map();
    for (var i = 0; i < list.length; i++) {
      var u = list[i];
      if (!u || typeof u.url !== "string" || seen.has(u.url)) continue;
      seen.add(u.url);
      var parts = splitUrl(u.url);
      var entry = {
        url: u.url, lower: u.url.toLowerCase(), label: parts.label, isIndex: parts.isIndex,
        source: typeof u.source === "string" ? u.source : "",
        title: typeof u.title === "string" ? u.title : "",
        depth: isNum(u.depth) ? u.depth : null, parts: parts
      };
      entries.push(entry);
      if (!hosts.has(parts.host)) hosts.set(parts.host, []);
      hosts.get(parts.host).push(entry);
    }
    var hostNames = Array.from(hosts.keys()).sort(compareNames);
    var several = hostNames.length > 1;
    var root = newFolder("", several ? hostNames.length + " hosts" : (hostNames[0] || "(no pages)"), 0, null, "");
    hostNames.forEach(function (host) {
      var base = root;
      if (several) {
        base = newFolder(host, host, 1, root, host);
        root.sub.set(host, base);
      }
      hosts.get(host).forEach(function (entry) {
        var folder = base;
        var f = entry.parts.folders;
        for (var k = 0; k < f.length; k++) {
          var next = folder.sub.get(f[k]);
          if (!next) {
            next = newFolder(f[k], f[k] + "/", folder.level + 1, folder, (folder.path || "") + "/" + f[k]);
            folder.sub.set(f[k], next);
          }
          folder = next;
        }
        folder.direct.push(entry);
        entry.parts = null;
      });
    });

    // Flatten: pre-order, a folder's own pages first, then its sub-folders: ranges are contiguous.
    var pages = [];
    var folders = [];
    var budget = TREE_OPEN_BUDGET;
    (function visit(folder) {
      folder.index = folders.length;
      folders.push(folder);
      folder.start = pages.length;
      folder.direct.sort(function (a, b) {
        return (b.isIndex - a.isIndex) || compareNames(a.label, b.label);
      });
      var subs = Array.from(folder.sub.values()).sort(function (a, b) { return compareNames(a.name, b.name); });
      var items = [];
      folder.direct.forEach(function (entry) {
        entry.index = pages.length;
        entry.folder = folder;
        pages.push(entry);
      });
      var indexPages = folder.direct.filter(function (e) { return e.isIndex; });
      var plain = folder.direct.filter(function (e) { return !e.isIndex; });
      indexPages.forEach(function (e) { items.push({ page: e.index }); });
      subs.forEach(function (sub) { items.push({ folder: sub }); });
      plain.forEach(function (e) { items.push({ page: e.index }); });
      folder.items = items;
      folder.direct = null;
      folder.sub = null;
      var shown = Math.min(items.length, TREE_CHUNK);
      folder.open = folder.level === 0 || (folder.level <= TREE_OPEN_LEVELS && budget - shown >= 0);
      if (folder.open && folder.level > 0) budget -= shown;
      subs.forEach(visit);
      folder.end = pages.length;
    })(root);

    var n = pages.length;
    var checked = new Uint8Array(n);
    checked.fill(1);
    var matched = new Uint8Array(n);
    matched.fill(1);
    return {
      id: id, config: data && data.config && typeof data.config === "object" ? data.config : {},
      complete: !!(data && data.complete), pages: pages, folders: folders, root: root,
      checked: checked, matched: matched, query: "", savedOpen: null,
      pageBoxes: new Map(), // page index → its checkbox, for the rows on screen
      renderedFolders: []
    };
  }

  /** Folder totals, bottom-up (children come after their parent in `folders`). */
  function recount() {
    var folders = disc.folders;
    var i;
    for (i = 0; i < folders.length; i++) folders[i].total = folders[i].matched = folders[i].checked = 0;
    for (i = 0; i < disc.pages.length; i++) {
      var f = disc.pages[i].folder;
      f.total += 1;
      if (disc.matched[i]) {
        f.matched += 1;
        if (disc.checked[i]) f.checked += 1;
      }
    }
    for (i = folders.length - 1; i > 0; i--) {
      var folder = folders[i];
      folder.parent.total += folder.total;
      folder.parent.matched += folder.matched;
      folder.parent.checked += folder.checked;
    }
  }

  function selectionCounts() {
    return disc ? { selected: disc.root.checked, visible: disc.root.matched, total: disc.pages.length }
      : { selected: 0, visible: 0, total: 0 };
  }

  function renderSelectionButton() {
    var counts = selectionCounts();
    text(el.crawlSelectedBtn, "Crawl selected (" + counts.selected + ")");
    el.crawlSelectedBtn.disabled = !disc || counts.selected === 0 || busy() || !disc.config.url;
  }

  function renderSelectionCount() {
    var counts = selectionCounts();
    text(el.selectionCount, counts.selected + " of " + counts.visible + " selected");
    el.selectionCount.title = counts.visible < counts.total
      ? (counts.total - counts.visible) + " pages hidden by the filter are not crawled" : "";
    renderSelectionButton();
  }

  // ---- rows

  function folderRow(folder) {
    var li = make("li", "tree-folder" + (folder.level === 0 ? " tree-root" : ""));
    li.setAttribute("role", "treeitem");
    li.setAttribute("data-folder", String(folder.index));
    li.setAttribute("data-level", String(folder.level));
    li.setAttribute("data-path", folder.path + "/");
    var row = make("div", "tree-row");
    var toggle = make("button", "tree-toggle");
    toggle.type = "button";
    toggle.setAttribute("aria-label", "Expand or collapse " + folder.label);
    var check = document.createElement("input");
    check.type = "checkbox";
    check.className = "tree-check";
    check.setAttribute("aria-label", "Select every page under " + folder.label);
    var name = make("span", "tree-name", folder.label);
    name.title = folder.label;
    var count = make("span", "tree-count");
    row.appendChild(toggle);
    row.appendChild(check);
    row.appendChild(name);
    row.appendChild(count);
    li.appendChild(row);
    var ul = make("ul", "tree-children");
    ul.setAttribute("role", "group");
    li.appendChild(ul);
    folder.dom = { li: li, toggle: toggle, check: check, count: count, ul: ul };
    folder.shown = 0;
    disc.renderedFolders.push(folder);
    updateFolderRow(folder);
    if (isOpen(folder)) renderMore(folder);
    else ul.hidden = true;
    return li;
  }

  function pageRow(index) {
    var page = disc.pages[index];
    var li = make("li", "tree-page");
    li.setAttribute("role", "treeitem");
    li.setAttribute("data-index", String(index));
    li.setAttribute("data-url", page.url);
    if (page.source) li.setAttribute("data-source", page.source);
    var row = make("label", "tree-row");
    row.appendChild(make("span", "tree-spacer"));
    var check = document.createElement("input");
    check.type = "checkbox";
    check.className = "tree-check";
    check.checked = !!disc.checked[index];
    row.appendChild(check);
    var name = make("span", "tree-name", page.label);
    name.title = page.url;
    row.appendChild(name);
    if (page.title) row.appendChild(make("span", "tree-title", page.title));
    if (page.source) {
      var badge = make("span", "source-badge", page.source);
      badge.setAttribute("data-source", isIn(SOURCES, page.source) ? page.source : "other");
      row.appendChild(badge);
    }
    li.appendChild(row);
    disc.pageBoxes.set(index, check);
    return li;
  }

  function isOpen(folder) { return folder.level === 0 || folder.open; }

  function updateFolderRow(folder) {
    var dom = folder.dom;
    if (!dom) return;
    text(dom.count, String(folder.matched));
    dom.check.checked = folder.matched > 0 && folder.checked === folder.matched;
    dom.check.indeterminate = folder.checked > 0 && folder.checked < folder.matched;
    dom.check.disabled = folder.matched === 0;
    var open = isOpen(folder);
    dom.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    dom.li.setAttribute("aria-expanded", open ? "true" : "false");
    dom.toggle.hidden = folder.level === 0;
  }

  /** Renders the next chunk of a folder's visible children (pages matching the filter, folders with some). */
  function renderMore(folder) {
    var dom = folder.dom;
    var old = dom.ul.lastElementChild;
    if (old && old.classList.contains("tree-more")) dom.ul.removeChild(old);
    var visible = 0;
    var added = 0;
    var frag = document.createDocumentFragment();
    var items = folder.items;
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var show = item.folder ? item.folder.matched > 0 : !!disc.matched[item.page];
      if (!show) continue;
      visible += 1;
      if (visible <= folder.shown) continue;
      if (added >= TREE_CHUNK) continue; // counting what is left
      frag.appendChild(item.folder ? folderRow(item.folder) : pageRow(item.page));
      added += 1;
    }
    folder.shown += added;
    if (visible > folder.shown) {
      var more = make("li", "tree-more");
      var btn = make("button", "link-btn tree-more-btn", "Show " + Math.min(TREE_CHUNK, visible - folder.shown) +
        " more (" + (visible - folder.shown) + " not shown)");
      btn.type = "button";
      btn.setAttribute("data-folder", String(folder.index));
      more.appendChild(btn);
      frag.appendChild(more);
    }
    dom.ul.appendChild(frag);
    dom.ul.hidden = false;
  }

  /** The whole visible tree from scratch: once per discovery and once per (debounced) filter change. */
  function renderTree() {
    disc.renderedFolders.forEach(function (f) { f.dom = null; f.shown = 0; });
    disc.renderedFolders = [];
    disc.pageBoxes = new Map();
    var frag = document.createDocumentFragment();
    if (disc.pages.length) frag.appendChild(folderRow(disc.root));
    while (el.discoveryTree.firstChild) el.discoveryTree.removeChild(el.discoveryTree.firstChild);
    el.discoveryTree.appendChild(frag);
    var empty = !disc.pages.length ? "The discovery found no pages."
      : disc.root.matched === 0 ? "No discovered URL contains “" + el.discoveryFilter.value.trim() + "”." : "";
    text(el.discoveryEmpty, empty);
    el.discoveryEmpty.hidden = !empty;
    renderSelectionCount();
  }

  /** After a selection change: the rows on screen, in place. */
  function refreshChecks() {
    disc.renderedFolders.forEach(updateFolderRow);
    disc.pageBoxes.forEach(function (box, index) {
      var want = !!disc.checked[index];
      if (box.checked !== want) box.checked = want;
    });
    renderSelectionCount();
  }

  function setRange(start, end, value) {
    for (var i = start; i < end; i++) {
      if (disc.matched[i]) disc.checked[i] = value;
    }
  }

  function applyFilter() {
    filterTimer = null;
    if (!disc) return;
    var q = el.discoveryFilter.value.trim().toLowerCase();
    if (q === disc.query) return;
    var folders = disc.folders;
    var i;
    if (q && !disc.query) {
      disc.savedOpen = folders.map(function (f) { return f.open; }); // restored when the filter is cleared
    }
    for (i = 0; i < disc.pages.length; i++) disc.matched[i] = !q || disc.pages[i].lower.indexOf(q) !== -1 ? 1 : 0;
    disc.query = q;
    recount();
    if (!q && disc.savedOpen) {
      for (i = 0; i < folders.length; i++) folders[i].open = disc.savedOpen[i];
      disc.savedOpen = null;
    } else if (q && disc.root.matched <= FILTER_AUTO_OPEN_MAX) {
      for (i = 0; i < folders.length; i++) if (folders[i].matched > 0) folders[i].open = true;
    }
    renderTree();
  }

  el.discoveryFilter.addEventListener("input", function () {
    if (filterTimer) clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, FILTER_DEBOUNCE_MS);
  });
  el.discoveryFilter.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      ev.preventDefault();
      if (filterTimer) clearTimeout(filterTimer);
      applyFilter();
    }
  });

  el.discoveryTree.addEventListener("click", function (ev) {
    if (!disc || !ev.target.closest) return;
    var more = ev.target.closest("button.tree-more-btn");
    if (more) {
      renderMore(disc.folders[Number(more.getAttribute("data-folder"))]);
      return;
    }
    var toggle = ev.target.closest("button.tree-toggle, .tree-folder > .tree-row > .tree-name");
    if (!toggle) return;
    var folder = disc.folders[Number(toggle.closest("li.tree-folder").getAttribute("data-folder"))];
    if (!folder || folder.level === 0) return;
    folder.open = !folder.open;
    if (folder.open && folder.shown === 0) renderMore(folder);
    folder.dom.ul.hidden = !folder.open;
    updateFolderRow(folder);
  });

  el.discoveryTree.addEventListener("change", function (ev) {
    var box = ev.target;
    if (!disc || !box.classList || !box.classList.contains("tree-check")) return;
    var li = box.closest("li");
    if (li.classList.contains("tree-folder")) {
      var folder = disc.folders[Number(li.getAttribute("data-folder"))];
      setRange(folder.start, folder.end, box.checked ? 1 : 0);
    } else {
      disc.checked[Number(li.getAttribute("data-index"))] = box.checked ? 1 : 0;
    }
    recount();
    refreshChecks();
  });

  el.selectAll.addEventListener("click", function () {
    if (!disc) return;
    setRange(0, disc.pages.length, 1);
    recount();
    refreshChecks();
  });

  el.selectNone.addEventListener("click", function () {
    if (!disc) return;
    setRange(0, disc.pages.length, 0);
    recount();
    refreshChecks();
  });

  /** The pages to crawl: checked and shown by the filter, in tree order. */
  function selectedUrls() {
    var urls = [];
    for (var i = 0; i < disc.pages.length; i++) {
      if (disc.checked[i] && disc.matched[i]) urls.push(disc.pages[i].url);
    }
    return urls;
  }

  el.crawlSelectedBtn.addEventListener("click", function () {
    if (!disc || busy()) return;
    var urls = selectedUrls();
    if (!urls.length) return;
    var read = readForm();
    var problems = read.problems.filter(function (p) { return p !== "Enter a start URL."; });
    if (problems.length) {
      showFormError(problems.join(" "));
      return;
    }
    var config = read.config;
    config.url = disc.config.url;
    config.urls = urls;
    // The person picked these pages one by one: a page budget below their number would drop some.
    config.max_pages = Math.min(100000, Math.max(isNum(config.max_pages) ? config.max_pages : 500, urls.length));
    requestStart("crawl", config);
  });

  function sourceSummary() {
    var counts = {};
    disc.pages.forEach(function (p) {
      var key = p.source || "unknown";
      counts[key] = (counts[key] || 0) + 1;
    });
    return Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; })
      .map(function (k) { return counts[k] + " " + k; }).join(" · ");
  }

  function renderDiscoverySummary() {
    while (el.discoverySummary.firstChild) el.discoverySummary.removeChild(el.discoverySummary.firstChild);
    var count = make("b", null, String(disc.pages.length));
    count.id = "discovery-count";
    el.discoverySummary.appendChild(count);
    el.discoverySummary.appendChild(document.createTextNode(
      " pages found" + (disc.config.url ? " from " + disc.config.url : "") +
      (disc.pages.length ? " (" + sourceSummary() + ")" : "") + (disc.complete ? "" : " — incomplete")));
    el.discoverySummary.title = "discovery " + disc.id;
  }

  /** Shows a discovery's URL list in the panel (GET /api/discover/<id>). */
  function loadDiscovery(id) {
    if (!id) return;
    if (disc && disc.id === id && !el.discovery.hidden) return;
    var token = ++discToken;
    el.discovery.hidden = false;
    el.discovery.setAttribute("data-discovery-id", id);
    el.discovery.setAttribute("data-loading", "true");
    text(el.discoverySummary, "Loading the discovered pages…");
    api("GET", "/api/discover/" + encodeURIComponent(id)).then(function (data) {
      if (token !== discToken) return;
      var started = performance.now();
      disc = buildDiscovery(id, data);
      el.discoveryFilter.value = "";
      if (filterTimer) {
        clearTimeout(filterTimer);
        filterTimer = null;
      }
      recount();
      renderDiscoverySummary();
      renderTree();
      el.discovery.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
      el.discovery.removeAttribute("data-loading");
    }, function (err) {
      if (token !== discToken) return;
      el.discovery.removeAttribute("data-loading");
      text(el.discoverySummary, "Could not load the discovered pages: " + errorMessage(err, "request failed"));
    });
  }

  function closeDiscovery() {
    discToken += 1;
    disc = null;
    if (filterTimer) {
      clearTimeout(filterTimer);
      filterTimer = null;
    }
    el.discovery.hidden = true;
    el.discovery.removeAttribute("data-discovery-id");
    while (el.discoveryTree.firstChild) el.discoveryTree.removeChild(el.discoveryTree.firstChild);
    renderSelectionCount();
  }

  el.discoveryClose.addEventListener("click", closeDiscovery);

  // ---------------------------------------------------------------- sync (page load and reconnect)

  var syncRunning = false;
  var syncAgain = false;

  /** Lists this session's crawls, then catches up on the crawl on show or attaches to a live one. */
  function syncOnce() {
    return api("GET", "/api/crawls").then(function (data) {
      var crawls = data && Array.isArray(data.crawls) ? data.crawls : [];
      renderHistory(crawls);
      if (starting) return null;
      if (view.crawlId && isActive(view.state) && !view.summary) {
        return view.loading ? null : loadCrawl(view.crawlId, true);
      }
      var live = null;
      for (var i = 0; i < crawls.length; i++) {
        if (crawls[i] && isActive(crawls[i].state)) { live = crawls[i]; break; }
      }
      if (live && live.crawl_id !== view.crawlId) return loadCrawl(live.crawl_id, false, live.state, live.kind);
      return null;
    }, function (err) {
      if (!view.crawlId) text(el.crawlMessage, "Could not list your crawls: " + errorMessage(err, "request failed"));
    });
  }

  function requestSync() {
    if (syncRunning) {
      syncAgain = true;
      return;
    }
    syncRunning = true;
    var loop = function () {
      syncAgain = false;
      return syncOnce().then(function () {
        if (syncAgain) return loop();
        return null;
      });
    };
    loop().then(function () { syncRunning = false; }, function () { syncRunning = false; });
  }

  // ---------------------------------------------------------------- connection

  function setConnection(stateName, label) {
    el.connection.setAttribute("data-conn", stateName);
    text(el.connection, label);
    el.reconnectBtn.hidden = stateName !== "disconnected";
  }

  function setConnMessage(message) {
    text(el.connMessage, message || "");
    el.connMessage.hidden = !message;
  }

  var socket = io({ transports: ["websocket", "polling"] });
  var sessionRetried = false;

  socket.on("connect", function () {
    setConnection("connected", "Connected");
    setConnMessage("");
    requestSync();
  });

  socket.on("disconnect", function (reason) {
    if (socket.active) {
      setConnection("reconnecting", "Reconnecting…");
    } else {
      setConnection("disconnected", "Disconnected");
      if (reason === "io server disconnect") setConnMessage("The server closed the connection.");
    }
  });

  socket.on("connect_error", function (err) {
    var message = errorMessage(err, "connection failed");
    if (socket.active) {
      // Transport trouble: the client keeps retrying on its own.
      setConnection("reconnecting", "Reconnecting…");
      setConnMessage("Cannot reach the server (" + message + "). Retrying…");
      return;
    }
    // The server refused the connection.
    setConnection("disconnected", "Disconnected");
    setConnMessage("Connection refused: " + message);
    if (!sessionRetried && /no session/i.test(message)) {
      // The session cookie is missing or expired: fetch a fresh one, then try once more.
      sessionRetried = true;
      api("GET", "/api/health").then(function () { socket.connect(); }, function () {});
    }
  });

  socket.io.on("reconnect_attempt", function () {
    setConnection("reconnecting", "Reconnecting…");
  });

  el.reconnectBtn.addEventListener("click", function () {
    setConnection("connecting", "Connecting…");
    socket.connect();
  });

  ["crawler_status", "crawler_detailed_progress", "crawler_page", "crawler_log", "crawler_finished"]
    .forEach(function (type) {
      socket.on(type, function (payload) { onServerEvent(type, payload); });
    });

  // ---------------------------------------------------------------- boot

  resetProgress();
  renderState();
  requestSync();
})();
