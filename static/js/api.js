/*
 * The REST API (docs/events.md): JSON in and out; a non-2xx answer rejects with the server's
 * `error` text and the HTTP status in `err.status`.
 */

export function api(method, path, body) {
  const options = {
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
      let data = null;
      try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
      if (!res.ok) {
        const msg = data && typeof data.error === "string" ? data.error : "HTTP " + res.status + " " + res.statusText;
        const err = new Error(msg);
        err.status = res.status;
        throw err;
      }
      return data;
    });
  });
}

function crawlPath(crawlId) { return "/api/crawls/" + encodeURIComponent(crawlId); }

export function listCrawls() { return api("GET", "/api/crawls"); }
export function getCrawl(crawlId) { return api("GET", crawlPath(crawlId)); }
export function getDiscovery(id) { return api("GET", "/api/discover/" + encodeURIComponent(id)); }
export function startOverRest(kind, config) {
  return api("POST", kind === "discovery" ? "/api/discover" : "/api/crawls", config);
}
export function stopOverRest(crawlId) { return api("POST", crawlPath(crawlId) + "/stop"); }
export function resumeOverRest(crawlId) { return api("POST", crawlPath(crawlId) + "/resume"); }
export function refreshOverRest(crawlId) { return api("POST", crawlPath(crawlId) + "/refresh"); }
export function getChanges(crawlId) { return api("GET", crawlPath(crawlId) + "/changes"); }
export function health() { return api("GET", "/api/health"); }
export function getSession() { return api("GET", "/api/session"); }
export function listKeys() { return api("GET", "/api/keys"); }
export function createKey(name) { return api("POST", "/api/keys", { name: name }); }
export function revokeKey(id) { return api("DELETE", "/api/keys/" + encodeURIComponent(id)); }
export function signInWithKey(key) { return api("POST", "/api/session/key", { key: key }); }
export function signOutOfKey() { return api("DELETE", "/api/session/key"); }

/** The crawl's manifest (the JSONL download) as a list of entries; unreadable lines are left out. */
export function getManifest(crawlId) {
  return fetch(crawlPath(crawlId) + "/download?format=jsonl", { credentials: "same-origin", cache: "no-store" })
    .then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.text();
    })
    .then(function (raw) {
      const entries = [];
      raw.split("\n").forEach(function (line) {
        if (!line) return;
        try { entries.push(JSON.parse(line)); } catch (e) { /* a line cut short: skipped */ }
      });
      return entries;
    });
}
