/*
 * The "API keys" panel (docs/api.md "API keys"): this session's keys (name, when made, last
 * used, Revoke), making one (the key is shown once, to copy), and signing this browser in to a
 * key's session ("sign in with a key") or out of it. Signing in or out changes whose crawls the
 * whole page shows, so the page is loaded afresh.
 */

import {
  createKey, getSession, listKeys, revokeKey, signInWithKey, signOutOfKey
} from "../api.js";
import { $, clear, make, text } from "../dom.js";
import { errorMessage, formatDateTime } from "../util.js";

const list = $("keys-list");
const createForm = $("keys-create");
const nameInput = $("keys-name");
const fresh = $("keys-new");
const freshValue = $("keys-new-value");
const copyBtn = $("keys-copy");
const signInForm = $("keys-sign-in");
const signInValue = $("keys-sign-in-value");
const signedIn = $("keys-signed-in");
const signedInText = $("keys-signed-in-text");
const signOutBtn = $("keys-sign-out");
const errorLine = $("keys-error");

let signedInKeyId = null;

function showError(message) {
  text(errorLine, message || "");
  errorLine.hidden = !message;
}

function keyRow(key) {
  const li = make("li", "keys-row");
  li.setAttribute("data-key-id", key.id);
  const top = make("div", "keys-top");
  top.appendChild(make("span", "keys-name", key.name));
  const revoke = make("button", "link-btn keys-revoke", "Revoke");
  revoke.type = "button";
  revoke.setAttribute("data-key-id", key.id);
  revoke.setAttribute("aria-label", "Revoke the key " + key.name);
  top.appendChild(revoke);
  li.appendChild(top);
  const meta = make("div", "keys-meta");
  meta.appendChild(make("span", "keys-id", key.id));
  meta.appendChild(make("span", null, "made " + formatDateTime(key.created_at)));
  meta.appendChild(make("span", "keys-used", key.last_used_at ? "used " + formatDateTime(key.last_used_at) : "never used"));
  li.appendChild(meta);
  return li;
}

export function renderKeys(keys) {
  clear(list);
  keys.forEach(function (key) { list.appendChild(keyRow(key)); });
}

function refresh() {
  return listKeys().then(function (data) {
    renderKeys(data && Array.isArray(data.keys) ? data.keys : []);
  }, function (err) { showError("Could not list the keys: " + errorMessage(err, "request failed")); });
}

function renderSession(session) {
  const key = session && session.key;
  signedInKeyId = key ? key.id : null;
  signedIn.hidden = !key;
  createForm.hidden = !!key;  // keys are made by a session's own browser, not with a key
  signInForm.hidden = !!key;
  document.body.setAttribute("data-signed-in-key", key ? key.id : "");
  if (key) text(signedInText, "Signed in with the key “" + key.name + "”");
  signedIn.title = key ? "This browser shows the crawls of the session that made this key" : "";
}

createForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  showError("");
  const name = nameInput.value.trim();
  if (!name) { showError("Give the key a name."); return; }
  createKey(name).then(function (made) {
    nameInput.value = "";
    freshValue.value = made.key;
    fresh.hidden = false;
    freshValue.focus();
    freshValue.select();
    return refresh();
  }, function (err) { showError(errorMessage(err, "the key could not be made")); });
});

copyBtn.addEventListener("click", function () {
  freshValue.select();
  const done = function () { text(copyBtn, "Copied"); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(freshValue.value).then(done, function () {});
  } else if (document.execCommand && document.execCommand("copy")) {
    done();
  }
});

list.addEventListener("click", function (ev) {
  const btn = ev.target.closest ? ev.target.closest("button.keys-revoke") : null;
  if (!btn) return;
  const id = btn.getAttribute("data-key-id");
  const row = btn.closest("li");
  const name = row ? row.querySelector(".keys-name").textContent : id;
  if (!window.confirm("Revoke the key “" + name + "”? Scripts using it stop working at once.")) return;
  showError("");
  revokeKey(id).then(function () {
    if (id === signedInKeyId) { window.location.reload(); return null; }
    return refresh();
  }, function (err) { showError(errorMessage(err, "the key could not be revoked")); });
});

signInForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  showError("");
  const key = signInValue.value.trim();
  if (!key) { showError("Paste a key to sign in with."); return; }
  signInWithKey(key).then(function () {
    signInValue.value = "";
    window.location.reload();
  }, function (err) { showError(errorMessage(err, "signing in failed")); });
});

signOutBtn.addEventListener("click", function () {
  signOutOfKey().then(function () { window.location.reload(); },
    function (err) { showError(errorMessage(err, "signing out failed")); });
});

/** After the server closed this page's connection: if the key it was signed in with was revoked,
 * the page is this browser's own session again. */
export function checkKeyStillValid() {
  if (!signedInKeyId) return;
  getSession().then(function (session) {
    if (!session || !session.key || session.key.id !== signedInKeyId) window.location.reload();
  }, function () {});
}

export function initKeys() {
  getSession().then(renderSession, function () {});
  refresh();
}
