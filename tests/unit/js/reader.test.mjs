// The reader's and the search box's pure helpers (static/js/reader_model.js), with Node's runner:
//   node --test tests/unit/js/*.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  buildPageTree, foldersOf, pagePath, searchPath, snippetParts, splitPageUrl, treePath
} from "../../../static/js/reader_model.js";

test("a URL splits into host, folders and the page's own name", () => {
  assert.deepEqual(splitPageUrl("https://Docs.Example.org:8080/a/b/c.html?x=1#top"),
    { host: "docs.example.org:8080", folders: ["a", "b"], leaf: "c.html?x=1" });
  assert.deepEqual(splitPageUrl("https://docs.example.org/guide/"),
    { host: "docs.example.org", folders: ["guide"], leaf: "" });
  assert.deepEqual(splitPageUrl("https://docs.example.org"), { host: "docs.example.org", folders: [], leaf: "" });
  assert.deepEqual(splitPageUrl("https://x.org/caf%C3%A9/menu"), { host: "x.org", folders: ["café"], leaf: "menu" });
  assert.deepEqual(splitPageUrl("https://x.org/%E0%A4%A/p"), { host: "x.org", folders: ["%E0%A4%A"], leaf: "p" });
});

test("saved pages become a tree by host and path, counted, in natural order, index pages first", () => {
  const base = "https://docs.example.org/docs/";
  const tree = buildPageTree([
    { url: base, title: "Home", path: "pages/docs/index.md" },
    { url: base + "guide/page-10.html", title: "", path: "p10" },
    { url: base + "guide/page-2.html", title: "Page two", path: "p2" },
    { url: base + "guide/", title: "Guide", path: "g" },
    { url: base + "api/client.html", title: "Client", path: "c" },
    { url: base + "guide/page-2.html", title: "again", path: "dup" },  // listed once
    { url: "https://other.org/x", title: "X", path: "x" },
    null, { title: "no url" }
  ]);
  assert.equal(tree.count, 6);
  assert.deepEqual(tree.folders.map((f) => [f.name, f.count]), [["docs.example.org", 5], ["other.org", 1]]);
  const docs = tree.folders[0].folders[0];
  assert.equal(docs.path, "/docs.example.org/docs");
  assert.deepEqual(docs.pages.map((p) => p.label), ["Home"]);
  assert.deepEqual(docs.folders.map((f) => f.name), ["api", "guide"]);
  const guide = docs.folders[1];
  // Its own page first, then by label with numbers in order; a page without a title shows its name.
  assert.deepEqual(guide.pages.map((p) => p.label), ["Guide", "Page two", "page-10.html"]);
  assert.equal(guide.pages[0].index, true);
  assert.equal(guide.count, 3);
  assert.equal("byName" in guide, false);
  assert.deepEqual(buildPageTree(undefined), { name: "", path: "", folders: [], pages: [], count: 0 });
});

test("the folders holding a page, root first, match the tree's paths", () => {
  assert.deepEqual(foldersOf("https://docs.example.org/docs/guide/a.html"),
    ["/docs.example.org", "/docs.example.org/docs", "/docs.example.org/docs/guide"]);
});

test("a snippet becomes text and highlights; nothing else in it is markup", () => {
  assert.deepEqual(snippetParts("…the &lt;b&gt;<mark>proxy</mark>&lt;/b&gt; &amp; <mark>pool</mark>"), [
    { text: "…the <b>", mark: false }, { text: "proxy", mark: true }, { text: "</b> & ", mark: false },
    { text: "pool", mark: true }
  ]);
  // Markup that is not exactly the highlight marker stays text, entities are read once only.
  assert.deepEqual(snippetParts("<img src=x onerror=alert(1)> &amp;lt;script&amp;gt; <MARK>x</MARK>"), [
    { text: "<img src=x onerror=alert(1)> &lt;script&gt; <MARK>x</MARK>", mark: false }
  ]);
  assert.deepEqual(snippetParts("&quot;a&#x27;b&#39;"), [{ text: "\"a'b'", mark: false }]);
  assert.deepEqual(snippetParts(null), []);
  assert.deepEqual(snippetParts("<mark></mark>"), []);
});

test("REST paths encode what they carry", () => {
  assert.equal(treePath("20261127-120000-aaaaaa"), "/api/crawls/20261127-120000-aaaaaa/tree");
  assert.equal(treePath("20261127-120000-aaaaaa", 5000), "/api/crawls/20261127-120000-aaaaaa/tree?offset=5000");
  assert.equal(pagePath("c", "https://x.org/a b?c=1&d#e", 10),
    "/api/crawls/c/page?url=https%3A%2F%2Fx.org%2Fa%20b%3Fc%3D1%26d%23e&offset=10");
  assert.equal(searchPath('"a b" c*', "", 2, 10), "/api/search?q=%22a%20b%22%20c*&page=2&per_page=10");
  assert.equal(searchPath("x", "c1"), "/api/search?q=x&page=1&per_page=10&crawl=c1");
});
