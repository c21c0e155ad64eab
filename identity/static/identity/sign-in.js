// The last page of a sign-in through a CRM in the widget's popup: hand the outcome to the widget that opened it.
// Posted to our own origin only (the widget runs on it inside the CRM's iframe), so no other page can read the token.
(function () {
  "use strict";
  var node = document.getElementById("leadline-sign-in");
  if (!node || node.dataset.mode !== "widget" || !window.opener) {
    return;
  }
  var data = node.dataset;
  var message;
  if (data.outcome === "signed_in") {
    message = { type: "leadline:session", token: data.token, expires_at: data.expiresAt };
  } else if (data.outcome === "unknown_user") {
    message = { type: "leadline:unknown-user" };
  } else {
    message = { type: "leadline:sign-in-failed", reason: data.reason || "" };
  }
  window.opener.postMessage(message, data.targetOrigin);
  if (data.outcome === "signed_in") {
    node.removeAttribute("data-token");
    window.close();
  }
})();
