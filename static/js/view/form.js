/* The crawl settings form: read into a configuration, or filled from an attached crawl's. */

import { el } from "../dom.js";

function lines(value) {
  return String(value || "").split(/\r?\n/).map(function (s) { return s.trim(); })
    .filter(function (s) { return s.length > 0; });
}

function numberField(input, key, label, config, problems) {
  if (input.validity && input.validity.badInput) {
    problems.push(label + " must be a number.");
    return;
  }
  const raw = input.value.trim();
  if (raw === "") return; // left empty: the server applies its default
  config[key] = Number(raw);
}

/** Reads the form into a crawl configuration; returns {config, problems}. */
export function readForm() {
  const config = {};
  const problems = [];
  config.url = el.url.value.trim();
  if (!config.url) problems.push("Enter a start URL.");
  numberField(el.maxPages, "max_pages", "Max pages", config, problems);
  numberField(el.maxDepth, "max_depth", "Max depth", config, problems);
  numberField(el.concurrency, "concurrency", "Concurrency", config, problems);
  config.scope = el.scope.value;
  config.include = lines(el.include.value);
  config.exclude = lines(el.exclude.value);
  const contentSelector = el.contentSelector.value.trim();
  if (contentSelector) config.content_selector = contentSelector;
  config.exclude_selectors = lines(el.excludeSelectors.value);
  config.respect_robots = !!el.respectRobots.checked;
  numberField(el.timeout, "timeout", "Timeout", config, problems);
  numberField(el.perHost, "per_host_concurrency", "Per host", config, problems);
  numberField(el.delay, "delay", "Delay", config, problems);
  numberField(el.maxRetries, "max_retries", "Max retries", config, problems);
  config.use_sitemaps = !!el.useSitemaps.checked;
  config.prefer_site_markdown = !!el.preferSiteMarkdown.checked;
  config.render = el.render.value;
  const agent = el.userAgent.value.trim();
  if (agent) config.user_agent = agent; // empty: the server's own agent
  return { config: config, problems: problems };
}

/** Shows the configuration of an attached crawl in the form. */
export function fillForm(config) {
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
  if (typeof config.prefer_site_markdown === "boolean") el.preferSiteMarkdown.checked = config.prefer_site_markdown;
  if (config.render === "auto" || config.render === "never" || config.render === "always") el.render.value = config.render;
  if (typeof config.user_agent === "string") {
    // The server's default agent is the field's placeholder: leave the field empty for it.
    el.userAgent.value = config.user_agent === el.userAgent.placeholder ? "" : config.user_agent;
  }
  if (Array.isArray(config.include)) el.include.value = config.include.join("\n");
  if (Array.isArray(config.exclude)) el.exclude.value = config.exclude.join("\n");
  el.contentSelector.value = typeof config.content_selector === "string" ? config.content_selector : "";
  if (Array.isArray(config.exclude_selectors)) el.excludeSelectors.value = config.exclude_selectors.join("\n");
  if (typeof config.respect_robots === "boolean") el.respectRobots.checked = config.respect_robots;
}
