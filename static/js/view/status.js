/* The state label, the crawl id, its message line, the form error and the buttons' states. */

import { el, text } from "../dom.js";
import { controls, stateLabel } from "../state.js";

export function renderStatus(s) {
  const shown = stateLabel(s);
  text(el.crawlState, shown.label);
  el.crawlState.setAttribute("data-state", shown.dataState);
  text(el.crawlId, s.crawlId || "");
  text(el.crawlMessage, s.notice);
  text(el.formError, s.formError);
  el.formError.hidden = !s.formError;

  const c = controls(s);
  el.startBtn.disabled = c.startDisabled;
  el.discoverBtn.disabled = c.discoverDisabled;
  el.stopBtn.disabled = c.stopDisabled;
  text(el.stopBtn, c.stopText);
  el.resumeBtn.hidden = c.resumeHidden;
  el.resumeBtn.disabled = c.resumeDisabled;
  text(el.resumeBtn, c.resumeText);
  el.refreshBtn.hidden = c.refreshHidden;
  el.refreshBtn.disabled = c.refreshDisabled;
  text(el.refreshBtn, c.refreshText);
  text(el.startBtn, c.startText);
  text(el.discoverBtn, c.discoverText);
}
