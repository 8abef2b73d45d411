// The ETA and the total as the dashboard shows them (static/js/state.js): ranges with "≈" while
// the total is an estimate, plain numbers only when the crawl knows them.
//   node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";

import { etaText, totalRangeText } from "../../../static/js/state.js";

test("an estimated ETA is shown as a range with ≈", () => {
  assert.equal(etaText({ total_final: false, eta: 19.6, eta_range: [15.2, 24.6] }), "≈ 15–25 s");
  assert.equal(etaText({ total_final: false, eta: 80, eta_range: [65, 130] }), "≈ 1m 05s – 2m 10s");
  assert.equal(etaText({ total_final: false, eta: 20, eta_range: [20.2, 19.8] }), "≈ 20s", "a range of one");
  assert.equal(etaText({ total_final: false, eta: 20, eta_range: null }), "≈ 20s", "no range: still ≈");
});

test("a known total shows the ETA plain, and an unknown ETA as a dash", () => {
  assert.equal(etaText({ total_final: true, eta: 7.6, eta_range: null }), "8s");
  assert.equal(etaText({ total_final: false, eta: null, eta_range: null }), "—");
  assert.equal(etaText(null), "—");
});

test("the likely final total is a range with ≈ while it is an estimate, nothing once known", () => {
  assert.equal(totalRangeText({ total_final: false, total_range: [1100, 1400] }), "≈ 1,100–1,400 pages");
  assert.equal(totalRangeText({ total_final: false, total_range: [1200, 1200] }), "≈ 1,200 pages");
  assert.equal(totalRangeText({ total_final: true, total_range: null }), "");
  assert.equal(totalRangeText({ total_final: false, total_range: null }), "");
  assert.equal(totalRangeText({ total_final: false, total_range: [1, "x"] }), "", "a malformed range is not shown");
});
