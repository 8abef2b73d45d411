/*
 * The Socket.IO connection (the vendored client's global `io`): connection state on the top bar,
 * a fresh session cookie when the server has none for us, the crawl events handed to `onEvent`,
 * and requests with an acknowledgement.
 */

import { el, text } from "./dom.js";
import { health } from "./api.js";
import { EVENT_NAMES } from "./state.js";
import { errorMessage } from "./util.js";

const ACK_TIMEOUT_MS = 15000;

function setConnection(stateName, label) {
  el.connection.setAttribute("data-conn", stateName);
  text(el.connection, label);
  el.reconnectBtn.hidden = stateName !== "disconnected";
}

function setConnMessage(message) {
  text(el.connMessage, message || "");
  el.connMessage.hidden = !message;
}

/** Connects; `onConnect()` after every (re)connection, `onEvent(name, payload)` for crawl events,
 * `onServerClose()` when the server closed the connection (a revoked key's, for one). */
export function connect(onConnect, onEvent, onServerClose) {
  const socket = window.io({ transports: ["websocket", "polling"] });
  let sessionRetried = false;

  socket.on("connect", function () {
    setConnection("connected", "Connected");
    setConnMessage("");
    onConnect();
  });

  socket.on("disconnect", function (reason) {
    if (socket.active) {
      setConnection("reconnecting", "Reconnecting…");
    } else {
      setConnection("disconnected", "Disconnected");
      if (reason === "io server disconnect") {
        setConnMessage("The server closed the connection.");
        if (onServerClose) onServerClose();
      }
    }
  });

  socket.on("connect_error", function (err) {
    const message = errorMessage(err, "connection failed");
    if (socket.active) {
      // Transport trouble: the client keeps retrying on its own.
      setConnection("reconnecting", "Reconnecting…");
      setConnMessage("Cannot reach the server (" + message + "). Retrying…");
      return;
    }
    // The server refused the connection.
    setConnection("disconnected", "Disconnected");
    setConnMessage("Connection refused: " + message);
    if (!sessionRetried && /no session/i.test(message)) {
      // The session cookie is missing or expired: fetch a fresh one, then try once more.
      sessionRetried = true;
      health().then(function () { socket.connect(); }, function () {});
    }
  });

  socket.io.on("reconnect_attempt", function () {
    setConnection("reconnecting", "Reconnecting…");
  });

  el.reconnectBtn.addEventListener("click", function () {
    setConnection("connecting", "Connecting…");
    socket.connect();
  });

  EVENT_NAMES.forEach(function (name) {
    socket.on(name, function (payload) { onEvent(name, payload); });
  });

  return {
    get connected() { return socket.connected; },
    /** Sends `name` with `payload`; `callback(err, answer)` once acknowledged or timed out. */
    request: function (name, payload, callback) {
      socket.timeout(ACK_TIMEOUT_MS).emit(name, payload, callback);
    }
  };
}
