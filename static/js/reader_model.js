/*
 * Pure helpers of the reader and the search box (no DOM access, so Node tests them): the tree of
 * a crawl's saved pages by URL path, the parts of a search snippet, the REST paths they use.
 */

const collator = typeof Intl === "object" && Intl.Collator
  ? new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }) : null;

function compareNames(a, b) {
  if (collator) return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

function folder(name, path) {
  return { name: name, path: path, folders: [], pages: [], count: 0, byName: new Map() };
}

/** "https://host:8080/a/b/c.html?q" → {host: "host:8080", folders: ["a", "b"], leaf: "c.html?q"}; a
 * directory's own page ("/a/b/") has leaf "" and sits in its folder. */
export function splitPageUrl(url) {
  const m = /^([a-z][a-z0-9+.\-]*):\/\/([^\/?#]*)([^?#]*)(\?[^#]*)?/i.exec(String(url));
  if (!m) return { host: "(other)", folders: [], leaf: String(url) };
  const segments = (m[3] || "/").split("/").filter(function (s) { return s !== ""; });
  const directory = (m[3] || "/").endsWith("/") || segments.length === 0;
  const leaf = directory ? "" : segments.pop();
  let decoded = segments;
  try { decoded = segments.map(decodeURIComponent); } catch (e) { decoded = segments; }
  return { host: m[2].toLowerCase(), folders: decoded, leaf: leaf + (m[4] || "") };
}

/**
 * The saved pages ([{url, title, path}] of GET /api/crawls/<id>/tree) as a tree by host and URL
 * path: {name, path, folders: [...], pages: [{url, title, label}], count} with hosts as the root's
 * folders. A directory's own page comes first in its folder; folders and pages sort by name
 * (numbers in order: page-2 before page-10). `count` is the pages under a folder, all levels.
 */
export function buildPageTree(pages) {
  const root = folder("", "");
  const seen = new Set();
  (Array.isArray(pages) ? pages : []).forEach(function (p) {
    if (!p || typeof p.url !== "string" || seen.has(p.url)) return;
    seen.add(p.url);
    const parts = splitPageUrl(p.url);
    let node = root;
    node.count += 1;
    [parts.host].concat(parts.folders).forEach(function (name) {
      let next = node.byName.get(name);
      if (!next) {
        next = folder(name, node.path + "/" + name);
        node.byName.set(name, next);
        node.folders.push(next);
      }
      node = next;
      node.count += 1;
    });
    const title = typeof p.title === "string" ? p.title : "";
    node.pages.push({ url: p.url, title: title, index: parts.leaf === "", label: title || parts.leaf || "/" });
  });
  (function sort(node) {
    node.folders.sort(function (a, b) { return compareNames(a.name, b.name); });
    node.pages.sort(function (a, b) {
      if (a.index !== b.index) return a.index ? -1 : 1;
      return compareNames(a.label, b.label);
    });
    delete node.byName;
    node.folders.forEach(sort);
  })(root);
  return root;
}

/** The folders from the root down to the one holding `url` (their `path`s), to open them. */
export function foldersOf(url) {
  const parts = splitPageUrl(url);
  const paths = [];
  let path = "";
  [parts.host].concat(parts.folders).forEach(function (name) {
    path += "/" + name;
    paths.push(path);
  });
  return paths;
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#x27;": "'", "&#39;": "'" };

function unescapeHtml(text) {
  return text.replace(/&(?:amp|lt|gt|quot|#x27|#39);/g, function (e) { return ENTITIES[e]; });
}

/**
 * A search snippet (HTML-escaped text with the matches in <mark>…</mark>, docs/events.md) as
 * [{text, mark}] parts to put on the page as text nodes and <mark> elements: nothing in it is
 * ever parsed as HTML, only the exact markers become highlights.
 */
export function snippetParts(snippet) {
  const parts = [];
  const text = typeof snippet === "string" ? snippet : "";
  const re = /<mark>([\s\S]*?)<\/mark>/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parts.push({ text: unescapeHtml(text.slice(last, m.index)), mark: false });
    if (m[1]) parts.push({ text: unescapeHtml(m[1]), mark: true });
    last = re.lastIndex;
  }
  if (last < text.length) parts.push({ text: unescapeHtml(text.slice(last)), mark: false });
  return parts;
}

function crawlPath(crawlId) { return "/api/crawls/" + encodeURIComponent(crawlId); }

export function treePath(crawlId, offset) {
  return crawlPath(crawlId) + "/tree" + (offset ? "?offset=" + encodeURIComponent(offset) : "");
}

export function pagePath(crawlId, url, offset) {
  return crawlPath(crawlId) + "/page?url=" + encodeURIComponent(url) +
    (offset ? "&offset=" + encodeURIComponent(offset) : "");
}

export function searchPath(query, crawlId, page, perPage) {
  let path = "/api/search?q=" + encodeURIComponent(query) + "&page=" + encodeURIComponent(page || 1) +
    "&per_page=" + encodeURIComponent(perPage || 10);
  if (crawlId) path += "&crawl=" + encodeURIComponent(crawlId);
  return path;
}
