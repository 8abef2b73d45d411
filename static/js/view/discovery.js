/* The discovery panel: the pages a discovery found, with a filter and a selection to crawl. */

import { el, make, text } from "../dom.js";
import { SOURCES } from "../state.js";
import { errorMessage, isIn, isNum } from "../util.js";
import { getDiscovery } from "../api.js";

// What the panel needs from the rest of the page (set by initDiscovery).
var deps = {
  busy: function () { return false; },
  readForm: null,
  showFormError: null,
  startCrawl: null
};

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

export function renderSelectionButton() {
  var counts = selectionCounts();
  text(el.crawlSelectedBtn, "Crawl selected (" + counts.selected + ")");
  el.crawlSelectedBtn.disabled = !disc || counts.selected === 0 || deps.busy() || !disc.config.url;
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
  if (!disc || deps.busy()) return;
  var urls = selectedUrls();
  if (!urls.length) return;
  var read = deps.readForm();
  var problems = read.problems.filter(function (p) { return p !== "Enter a start URL."; });
  if (problems.length) {
    deps.showFormError(problems.join(" "));
    return;
  }
  var config = read.config;
  config.url = disc.config.url;
  config.urls = urls;
  // The person picked these pages one by one: a page budget below their number would drop some.
  config.max_pages = Math.min(100000, Math.max(isNum(config.max_pages) ? config.max_pages : 500, urls.length));
  deps.startCrawl(config);
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
export function loadDiscovery(id) {
  if (!id) return;
  if (disc && disc.id === id && !el.discovery.hidden) return;
  var token = ++discToken;
  el.discovery.hidden = false;
  el.discovery.setAttribute("data-discovery-id", id);
  el.discovery.setAttribute("data-loading", "true");
  text(el.discoverySummary, "Loading the discovered pages…");
  getDiscovery(id).then(function (data) {
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

export function closeDiscovery() {
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


/** Connects the panel to the page: `busy()`, `readForm()`, `showFormError(message)`, `startCrawl(config)`. */
export function initDiscovery(d) {
  Object.assign(deps, d);
}
