/*
 * The reader: a crawl's saved pages as a tree by URL path (GET /api/crawls/<id>/tree) and the page
 * chosen, rendered from its Markdown or shown raw (GET /api/crawls/<id>/page).
 *
 * The page's HTML is made on the server, which lets through no raw HTML, no script-capable link
 * and no image (docs/events.md, "Reader"). It is still put into the page through an inert
 * <template> and checked against the same short list of elements and attributes before it is
 * shown, so nothing else could get in even if the server let it through; the dashboard's
 * Content-Security-Policy forbids inline script besides. Everything else goes in as text.
 */

import { $, clear, make, text } from "../dom.js";
import { api } from "../api.js";
import { ACTIVE_STATES } from "../state.js";
import { errorMessage, isHttpUrl, isIn } from "../util.js";
import { buildPageTree, foldersOf, pagePath, treePath } from "../reader_model.js";

const TREE_PAGES_MAX = 100000;   // most pages listed (20 answers of 5,000)
const REFRESH_MS = 5000;         // a running crawl's tree is read again this often while shown
const OPEN_LEVELS = 2;           // the host and the first folder start open…
const OPEN_ALL_MAX = 200;        // …or every folder, when the crawl saved at most this many pages
const FOLDER_ROWS = 500;         // rows of one folder drawn at a time ("Show N more")

const TAGS = ["p", "a", "span", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "em",
  "strong", "s", "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"];
const ATTRIBUTES = ["href", "title", "class", "target", "rel", "data-reader-url", "start"];

const ui = {
  section: $("reader"),
  crawl: $("reader-crawl"),
  message: $("reader-message"),
  refresh: $("reader-refresh"),
  close: $("reader-close"),
  tree: $("reader-tree"),
  count: $("reader-count"),
  pageTitle: $("reader-page-title"),
  source: $("reader-source"),
  rendered: $("reader-mode-rendered"),
  raw: $("reader-mode-raw"),
  content: $("reader-content"),
  rawText: $("reader-raw"),
  more: $("reader-more"),
  openBtn: $("reader-open-btn")
};

const view = {
  crawlId: null,
  state: null,
  token: 0,        // bumps when another crawl is opened: late answers for the old one are dropped
  pageToken: 0,    // bumps when another page is opened
  total: -1,
  pages: [],
  open: new Set(), // paths of the folders open in the tree
  fresh: true,     // the tree has not been drawn yet: its top folders start open
  url: null,       // the page on show
  nextOffset: null,
  mode: "rendered",
  timer: null
};

let current = function () { return { crawlId: null, kind: "crawl" }; };

// ---------------------------------------------------------------- safe insertion

function cleanNode(node) {
  Array.prototype.slice.call(node.children).forEach(function (child) {
    const tag = child.tagName.toLowerCase();
    if (!isIn(TAGS, tag)) {
      child.replaceWith(document.createTextNode(child.textContent));
      return;
    }
    Array.prototype.slice.call(child.attributes).forEach(function (attr) {
      if (!isIn(ATTRIBUTES, attr.name)) child.removeAttribute(attr.name);
    });
    const href = child.getAttribute("href");
    if (href !== null && !/^(https?:\/\/|mailto:)/i.test(href)) child.removeAttribute("href");
    if (child.getAttribute("target") === "_blank") child.setAttribute("rel", "noopener noreferrer");
    cleanNode(child);
  });
}

/** The server's rendered HTML as a checked fragment (a <template>'s content runs and loads nothing). */
function safeFragment(html) {
  const template = document.createElement("template");
  template.innerHTML = typeof html === "string" ? html : "";
  cleanNode(template.content);
  return template.content;
}

// ---------------------------------------------------------------- the tree

function pageButton(p) {
  const li = make("li", "reader-tree-item");
  const btn = make("button", "reader-tree-page", p.label);
  btn.type = "button";
  btn.setAttribute("data-url", p.url);
  btn.title = p.title ? p.title + "\n" + p.url : p.url;
  if (p.url === view.url) btn.setAttribute("aria-current", "page");
  li.appendChild(btn);
  return li;
}

function fillFolder(list, node, from) {
  // A folder's own page (…/guide/) first, then its folders, then its other pages.
  const pages = node.pages.map(function (p) { return { page: p }; });
  const own = pages.filter(function (r) { return r.page.index; });
  const rows = own.concat(node.folders.map(function (f) { return { folder: f }; }),
    pages.filter(function (r) { return !r.page.index; }));
  const end = Math.min(rows.length, from + FOLDER_ROWS);
  for (let i = from; i < end; i++) {
    list.appendChild(rows[i].folder ? folderItem(rows[i].folder) : pageButton(rows[i].page));
  }
  if (end < rows.length) {
    const li = make("li", "reader-tree-more");
    const more = make("button", "link-btn", "Show " + Math.min(FOLDER_ROWS, rows.length - end) + " more");
    more.type = "button";
    more.addEventListener("click", function () {
      li.remove();
      fillFolder(list, node, end);
    });
    li.appendChild(more);
    list.appendChild(li);
  }
}

function folderItem(node) {
  const li = make("li", "reader-tree-folder");
  const details = document.createElement("details");
  details.setAttribute("data-path", node.path);
  const summary = make("summary", "reader-tree-name");
  summary.appendChild(make("span", "reader-tree-label", node.name));
  summary.appendChild(make("span", "reader-tree-count", node.count));
  details.appendChild(summary);
  const list = make("ul", "reader-tree-list");
  details.appendChild(list);
  const fill = function () {
    if (!list.firstChild) fillFolder(list, node, 0);
  };
  if (view.open.has(node.path)) {
    details.open = true;
    fill();
  }
  details.addEventListener("toggle", function () {
    if (details.open) {
      view.open.add(node.path);
      fill();
    } else {
      view.open.delete(node.path);
    }
  });
  li.appendChild(details);
  return li;
}

function renderTree() {
  const root = buildPageTree(view.pages);
  if (view.fresh && root.count) {
    view.fresh = false;
    (function openTop(node, level) {
      if (level > OPEN_LEVELS && root.count > OPEN_ALL_MAX) return;
      node.folders.forEach(function (f) {
        view.open.add(f.path);
        openTop(f, level + 1);
      });
    })(root, 1);
  }
  const scroll = ui.tree.scrollTop;
  clear(ui.tree);
  fillFolder(ui.tree, root, 0);
  ui.tree.scrollTop = scroll;
  text(ui.count, view.pages.length === 1 ? "1 page" : view.pages.length.toLocaleString("en-US") + " pages");
}

function markCurrentInTree() {
  const buttons = ui.tree.querySelectorAll("button.reader-tree-page");
  for (let i = 0; i < buttons.length; i++) {
    if (buttons[i].getAttribute("data-url") === view.url) buttons[i].setAttribute("aria-current", "page");
    else buttons[i].removeAttribute("aria-current");
  }
}

/** Every page of the crawl's tree, answer after answer. */
function fetchTree(crawlId) {
  const pages = [];
  const step = function (offset) {
    return api("GET", treePath(crawlId, offset)).then(function (data) {
      const list = data && Array.isArray(data.pages) ? data.pages : [];
      for (let i = 0; i < list.length; i++) pages.push(list[i]);
      const next = data ? data.next_offset : null;
      if (typeof next === "number" && next > offset && pages.length < TREE_PAGES_MAX) return step(next);
      return { state: data ? data.state : null, pages: pages };
    });
  };
  return step(0);
}

function loadTree(firstUrl) {
  const token = view.token;
  const crawlId = view.crawlId;
  clearTimeout(view.timer);
  return fetchTree(crawlId).then(function (answer) {
    if (token !== view.token) return;
    view.state = answer.state;
    const changed = answer.pages.length !== view.total;
    view.pages = answer.pages;
    view.total = answer.pages.length;
    if (changed) renderTree();
    if (!answer.pages.length) {
      text(ui.message, isIn(ACTIVE_STATES, answer.state)
        ? "No page saved yet: the list fills in as the crawl saves pages."
        : "This crawl saved no pages.");
    } else if (ui.message.getAttribute("data-kind") !== "error") {
      text(ui.message, "");
    }
    if (!view.url && answer.pages.length) openPage(firstUrl || answer.pages[0].url);
    if (isIn(ACTIVE_STATES, answer.state)) {
      view.timer = setTimeout(function () {
        if (token === view.token && !ui.section.hidden) loadTree(null);
      }, REFRESH_MS);
    }
  }, function (err) {
    if (token !== view.token) return;
    showError(err.status === 404 ? "This crawl no longer exists on the server."
      : "Could not list the crawl's pages: " + errorMessage(err, "request failed"));
  });
}

// ---------------------------------------------------------------- the page

function showError(message) {
  ui.message.setAttribute("data-kind", "error");
  text(ui.message, message);
}

function setMode(mode) {
  view.mode = mode === "raw" ? "raw" : "rendered";
  ui.rendered.setAttribute("aria-pressed", String(view.mode === "rendered"));
  ui.raw.setAttribute("aria-pressed", String(view.mode === "raw"));
  ui.content.hidden = view.mode !== "rendered";
  ui.rawText.hidden = view.mode !== "raw";
}

function showMore(data) {
  view.nextOffset = typeof data.next_offset === "number" ? data.next_offset : null;
  ui.more.hidden = view.nextOffset === null;
  if (view.nextOffset !== null) {
    const left = Math.max(0, (Number(data.total_chars) || 0) - view.nextOffset);
    text(ui.more, "Load the rest of the page (" + left.toLocaleString("en-US") + " characters more)");
  }
}

/** Shows one saved page of the crawl in the reader. */
export function openPage(url) {
  if (!view.crawlId || typeof url !== "string") return Promise.resolve();
  view.pageToken += 1;
  const token = view.pageToken;
  const crawlToken = view.token;
  view.url = url;
  markCurrentInTree();
  ui.section.setAttribute("aria-busy", "true");
  return api("GET", pagePath(view.crawlId, url)).then(function (data) {
    if (token !== view.pageToken || crawlToken !== view.token) return;
    view.url = data.url;
    markCurrentInTree();
    ui.message.removeAttribute("data-kind");
    text(ui.message, "");
    text(ui.pageTitle, data.title || data.url);
    text(ui.source, data.url);
    if (isHttpUrl(data.url)) ui.source.href = data.url;
    else ui.source.removeAttribute("href");
    clear(ui.content);
    ui.content.appendChild(safeFragment(data.html));
    ui.content.setAttribute("data-url", data.url);
    text(ui.rawText, data.markdown);
    showMore(data);
    ui.content.scrollTop = 0;
    ui.rawText.scrollTop = 0;
    openFoldersOf(data.url);
  }, function (err) {
    if (token !== view.pageToken) return;
    showError(errorMessage(err, "Could not load the page."));
  }).then(function () {
    if (token === view.pageToken) ui.section.removeAttribute("aria-busy");
  });
}

function openFoldersOf(url) {
  const paths = foldersOf(url);
  if (paths.every(function (p) { return view.open.has(p); })) return;
  paths.forEach(function (p) { view.open.add(p); });
  renderTree();
}

function loadRest() {
  if (view.nextOffset === null || !view.url) return;
  const token = view.pageToken;
  ui.more.disabled = true;
  api("GET", pagePath(view.crawlId, view.url, view.nextOffset)).then(function (data) {
    if (token !== view.pageToken) return;
    ui.content.appendChild(safeFragment(data.html));
    ui.rawText.appendChild(document.createTextNode(data.markdown));
    showMore(data);
  }, function (err) {
    if (token === view.pageToken) showError(errorMessage(err, "Could not load the rest of the page."));
  }).then(function () { ui.more.disabled = false; });
}

// ---------------------------------------------------------------- opening and closing

/** Opens the reader on a crawl, at `url` (or its first page). */
export function openReader(crawlId, url) {
  if (!crawlId) return;
  ui.section.hidden = false;
  if (crawlId !== view.crawlId) {
    view.token += 1;
    view.crawlId = crawlId;
    view.state = null;
    view.total = -1;
    view.pages = [];
    view.open = new Set();
    view.fresh = true;
    view.url = null;
    clear(ui.tree);
    clear(ui.content);
    text(ui.rawText, "");
    text(ui.pageTitle, "");
    text(ui.source, "");
    ui.source.removeAttribute("href");
    ui.more.hidden = true;
    ui.message.removeAttribute("data-kind");
    text(ui.message, "Loading…");
    text(ui.crawl, crawlId);
    loadTree(url || null);
  } else if (url) {
    openPage(url);
  } else {
    loadTree(null);
  }
  ui.section.scrollIntoView({ block: "start" });
}

function closeReader() {
  ui.section.hidden = true;
  clearTimeout(view.timer);
}

/** The "Open reader" button follows the crawl on show (a crawl, not a discovery: it saves no pages). */
export function renderReaderButton(s) {
  ui.openBtn.hidden = !(s.crawlId && s.kind === "crawl");
}

export function initReader(options) {
  if (options && typeof options.current === "function") current = options.current;
  ui.openBtn.addEventListener("click", function () {
    const c = current();
    if (c.crawlId) openReader(c.crawlId, null);
  });
  ui.close.addEventListener("click", closeReader);
  ui.refresh.addEventListener("click", function () {
    if (!view.crawlId) return;
    view.total = -1;
    loadTree(null);
    if (view.url) openPage(view.url);
  });
  ui.rendered.addEventListener("click", function () { setMode("rendered"); });
  ui.raw.addEventListener("click", function () { setMode("raw"); });
  ui.more.addEventListener("click", loadRest);
  ui.tree.addEventListener("click", function (ev) {
    const btn = ev.target.closest ? ev.target.closest("button.reader-tree-page") : null;
    if (btn) openPage(btn.getAttribute("data-url"));
  });
  ui.content.addEventListener("click", function (ev) {
    const link = ev.target.closest ? ev.target.closest("a[data-reader-url]") : null;
    if (!link || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();  // a page of this crawl: opened here (a modified click opens the original)
    openPage(link.getAttribute("data-reader-url"));
  });
  // "Read" on a row of "Your crawls".
  const history = $("history");
  history.addEventListener("click", function (ev) {
    const btn = ev.target.closest ? ev.target.closest("button.history-read") : null;
    if (btn) openReader(btn.getAttribute("data-crawl-id"), null);
  });
  setMode("rendered");
}
