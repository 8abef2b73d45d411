/*
 * DOM helpers. Text from the server (URLs, titles, messages, errors) only ever goes into the
 * page through textContent and attributes, never parsed as HTML.
 */

export function $(id) { return document.getElementById(id); }

export function text(node, value) {
  const s = value === null || value === undefined ? "" : String(value);
  if (node.textContent !== s) node.textContent = s;
}

export function make(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined && content !== null) node.textContent = String(content);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** The page's elements, by role. */
export const el = {
  form: $("crawl-form"),
  url: $("url"),
  maxPages: $("max_pages"),
  maxDepth: $("max_depth"),
  concurrency: $("concurrency"),
  scope: $("scope"),
  include: $("include"),
  exclude: $("exclude"),
  contentSelector: $("content_selector"),
  excludeSelectors: $("exclude_selectors"),
  respectRobots: $("respect_robots"),
  timeout: $("timeout"),
  perHost: $("per_host_concurrency"),
  delay: $("delay"),
  useSitemaps: $("use_sitemaps"),
  preferSiteMarkdown: $("prefer_site_markdown"),
  maxRetries: $("max_retries"),
  userAgent: $("user_agent"),
  render: $("render"),
  startBtn: $("start-btn"),
  discoverBtn: $("discover-btn"),
  stopBtn: $("stop-btn"),
  resumeBtn: $("resume-btn"),
  refreshBtn: $("refresh-btn"),
  changes: $("changes"),
  changesSummary: $("changes-summary"),
  changesBody: $("changes-body"),
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
  countRendered: $("count-rendered"),
  inFlight: $("in-flight"),
  queued: $("queued"),
  discovered: $("discovered"),
  skipReasons: $("skip-reasons"),
  refused: $("refused"),
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
