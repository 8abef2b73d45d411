/*
 * The search box: GET /api/search over this session's crawls (all, or the one chosen), results
 * with their best section's heading path and snippet, "More results" for the next page, and a
 * result opens its page in the reader.
 *
 * A snippet arrives HTML-escaped with the matches in <mark>…</mark>; it is split into text and
 * highlights (reader_model.js) and put on the page as text nodes and <mark> elements, so nothing
 * of the page's text is ever parsed as HTML.
 */

import { $, clear, make, text } from "../dom.js";
import { api, listCrawls } from "../api.js";
import { errorMessage, formatDateTime } from "../util.js";
import { searchPath, snippetParts } from "../reader_model.js";
import { openReader } from "./reader.js";

const PER_PAGE = 10;

const ui = {
  form: $("search-form"),
  query: $("search-q"),
  crawl: $("search-crawl"),
  status: $("search-status"),
  results: $("search-results"),
  more: $("search-more")
};

const search = { query: "", crawlId: "", page: 0, shown: 0, total: 0, token: 0 };

function hostAndPath(url) {
  const m = /^[a-z][a-z0-9+.\-]*:\/\/([^?#]*)/i.exec(String(url || ""));
  return m ? m[1] : String(url || "");
}

/** The crawls to choose from: this session's crawls (not discoveries: they save no pages). */
function fillCrawlChoice() {
  return listCrawls().then(function (data) {
    const crawls = (data && Array.isArray(data.crawls) ? data.crawls : []).filter(function (c) {
      return c && typeof c.crawl_id === "string" && c.kind !== "discovery";
    });
    const have = Array.prototype.slice.call(ui.crawl.options, 1).map(function (o) { return o.value; });
    if (have.join(" ") === crawls.map(function (c) { return c.crawl_id; }).join(" ")) return;  // as it is
    const chosen = ui.crawl.value;
    while (ui.crawl.options.length > 1) ui.crawl.remove(1);
    crawls.forEach(function (c) {
      const option = make("option", null, hostAndPath(c.url) + " · " + formatDateTime(c.created_at));
      option.value = c.crawl_id;
      ui.crawl.appendChild(option);
    });
    ui.crawl.value = chosen;
    if (ui.crawl.value !== chosen) ui.crawl.value = "";
  }, function () { /* the choice stays as it was */ });
}

function resultItem(hit) {
  const li = make("li", "search-result");
  const open = make("button", "search-open", hit.title || hit.url);
  open.type = "button";
  open.setAttribute("data-crawl-id", hit.crawl_id);
  open.setAttribute("data-url", hit.url);
  open.title = "Open in the reader";
  li.appendChild(open);
  // The best section's heading path ("Configuration › Environment variables"), as text.
  if (typeof hit.section === "string" && hit.section) li.appendChild(make("div", "search-section", hit.section));
  li.appendChild(make("div", "search-url", typeof hit.section_url === "string" ? hit.section_url : hit.url));
  const snippet = make("p", "search-snippet");
  snippetParts(hit.snippet).forEach(function (part) {
    snippet.appendChild(part.mark ? make("mark", null, part.text) : document.createTextNode(part.text));
  });
  li.appendChild(snippet);
  return li;
}

function runSearch(page) {
  search.token += 1;
  const token = search.token;
  ui.more.disabled = true;
  if (page === 1) text(ui.status, "Searching…");
  return api("GET", searchPath(search.query, search.crawlId, page, PER_PAGE)).then(function (data) {
    if (token !== search.token) return;
    const hits = data && Array.isArray(data.results) ? data.results : [];
    if (page === 1) clear(ui.results);
    hits.forEach(function (hit) {
      if (hit && typeof hit.url === "string" && typeof hit.crawl_id === "string") ui.results.appendChild(resultItem(hit));
    });
    search.page = page;
    search.total = Number(data && data.total) || 0;
    search.shown = ui.results.children.length;
    if (search.total === 0) {
      text(ui.status, "No page matches " + JSON.stringify(search.query) + ".");
    } else {
      text(ui.status, search.total.toLocaleString("en-US") + (search.total === 1 ? " result" : " results") +
        (search.shown < search.total ? ", " + search.shown.toLocaleString("en-US") + " shown" : ""));
    }
    ui.more.hidden = search.shown >= search.total || hits.length === 0;
  }, function (err) {
    if (token !== search.token) return;
    if (page === 1) clear(ui.results);
    ui.more.hidden = true;
    text(ui.status, err.status === 404 ? "That crawl no longer exists." : errorMessage(err, "The search failed."));
  }).then(function () {
    if (token === search.token) ui.more.disabled = false;
  });
}

export function initSearch() {
  ui.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const query = ui.query.value.trim();
    if (!query) {
      text(ui.status, "Type a word or two to search your crawls.");
      return;
    }
    search.query = query;
    search.crawlId = ui.crawl.value;
    runSearch(1);
  });
  ui.more.addEventListener("click", function () {
    if (search.query) runSearch(search.page + 1);
  });
  ui.results.addEventListener("click", function (ev) {
    const btn = ev.target.closest ? ev.target.closest("button.search-open") : null;
    if (btn) openReader(btn.getAttribute("data-crawl-id"), btn.getAttribute("data-url"));
  });
  // The list of crawls is read when the choice is about to be used.
  ui.crawl.addEventListener("focus", fillCrawlChoice);
  ui.query.addEventListener("focus", fillCrawlChoice);
  fillCrawlChoice();
}
