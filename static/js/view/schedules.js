/*
 * The schedules card: refresh one of this session's crawls every N hours or at cron times
 * (POST /api/schedules), the list with each schedule's next run and last outcome, and a button to
 * delete each (docs/api.md "Schedules"). Everything from the server goes in as text.
 */

import { $, clear, make, text } from "../dom.js";
import { api, listCrawls } from "../api.js";
import { errorMessage, formatDateTime } from "../util.js";

const RELOAD_MS = 15000;

const ui = {
  form: $("schedule-form"),
  crawl: $("schedule-crawl"),
  how: $("schedule-how"),
  hours: $("schedule-hours"),
  cron: $("schedule-cron"),
  status: $("schedule-status"),
  list: $("schedules")
};

function hostAndPath(url) {
  const m = /^[a-z][a-z0-9+.\-]*:\/\/([^?#]*)/i.exec(String(url || ""));
  return m ? m[1] : String(url || "");
}

/** The crawls that can be scheduled: this session's crawls (not discoveries), newest first; the
 *  dashboard calls this each time it lists the crawls, so a crawl just made can be chosen. */
export function setCrawlChoice(listed) {
  const crawls = (Array.isArray(listed) ? listed : []).filter(function (c) {
    return c && typeof c.crawl_id === "string" && c.kind !== "discovery";
  });
  const chosen = ui.crawl.value;
  clear(ui.crawl);
  crawls.forEach(function (c) {
    const option = make("option", null, hostAndPath(c.url) + " · " + formatDateTime(c.created_at));
    option.value = c.crawl_id;
    ui.crawl.appendChild(option);
  });
  if (chosen) ui.crawl.value = chosen;
  if (!ui.crawl.value && ui.crawl.options.length) ui.crawl.selectedIndex = 0;
}

function fillCrawlChoice() {
  return listCrawls().then(function (data) {
    setCrawlChoice(data && data.crawls);
  }, function () { /* the choice stays as it was */ });
}

function when(schedule) {
  if (typeof schedule.cron === "string" && schedule.cron) return "cron " + schedule.cron + " (UTC)";
  const hours = Number(schedule.every_hours);
  return "every " + (hours === 1 ? "hour" : (isFinite(hours) ? hours.toLocaleString("en-US") : "?") + " hours");
}

function row(schedule) {
  const li = make("li", "schedule-row");
  li.setAttribute("data-schedule-id", String(schedule.schedule_id));
  const head = make("div", "schedule-head");
  head.appendChild(make("span", "schedule-site", hostAndPath(schedule.site)));
  const del = make("button", "link-btn schedule-delete", "Delete");
  del.type = "button";
  del.setAttribute("data-schedule-id", String(schedule.schedule_id));
  del.title = "Delete this schedule (its crawls are kept)";
  head.appendChild(del);
  li.appendChild(head);
  li.appendChild(make("div", "schedule-when", when(schedule) + " · next " + formatDateTime(schedule.next_run)));
  const runs = Number(schedule.runs) || 0;
  const last = schedule.last_run ? "last " + formatDateTime(schedule.last_run) : "not run yet";
  li.appendChild(make("div", "schedule-last muted small", last + " · " + runs + (runs === 1 ? " run" : " runs")));
  if (typeof schedule.last_error === "string" && schedule.last_error) {
    li.appendChild(make("div", "schedule-error", schedule.last_error));
  }
  return li;
}

export function loadSchedules() {
  return api("GET", "/api/schedules").then(function (data) {
    const schedules = data && Array.isArray(data.schedules) ? data.schedules : [];
    clear(ui.list);
    schedules.forEach(function (s) { if (s && typeof s.schedule_id === "string") ui.list.appendChild(row(s)); });
  }, function () { /* kept as shown; the next reload tries again */ });
}

function showHow() {
  const cron = ui.how.value === "cron";
  ui.hours.hidden = cron;
  ui.cron.hidden = !cron;
}

function submit(ev) {
  ev.preventDefault();
  const crawlId = ui.crawl.value;
  if (!crawlId) {
    text(ui.status, "Crawl a site first: a schedule refreshes one of your crawls.");
    return;
  }
  const body = { crawl_id: crawlId };
  if (ui.how.value === "cron") body.cron = ui.cron.value.trim();
  else body.every_hours = Number(ui.hours.value);
  text(ui.status, "Saving…");
  api("POST", "/api/schedules", body).then(function (made) {
    text(ui.status, "Scheduled: next run " + formatDateTime(made && made.next_run) + ".");
    return loadSchedules();
  }, function (err) {
    text(ui.status, errorMessage(err, "The schedule could not be saved."));
  });
}

export function initSchedules() {
  ui.form.addEventListener("submit", submit);
  ui.how.addEventListener("change", showHow);
  ui.crawl.addEventListener("focus", fillCrawlChoice);
  ui.list.addEventListener("click", function (ev) {
    const btn = ev.target.closest ? ev.target.closest("button.schedule-delete") : null;
    if (!btn) return;
    btn.disabled = true;
    api("DELETE", "/api/schedules/" + encodeURIComponent(btn.getAttribute("data-schedule-id"))).then(function () {
      text(ui.status, "Schedule deleted.");
    }, function (err) {
      text(ui.status, errorMessage(err, "The schedule could not be deleted."));
    }).then(loadSchedules);
  });
  showHow();
  loadSchedules();
  setInterval(loadSchedules, RELOAD_MS);
}
