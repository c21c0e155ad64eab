// The widget inside a Dynamics 365 model-driven app form: an iframe on the form frames this page with the record it
// shows in the URL (Dynamics appends ?typename=lead&id={guid}&orgname=... when the iframe passes the record's
// object-type code and id; links may use ?object=lead&recordId=<guid>); the widget opens its conversation through
// the page's generic hook, window.leadline.openRecord({object, id}).
(function () {
  "use strict";
  // Dataverse tables (logical names) as Leadline names the objects.
  var OBJECTS = { lead: "lead", contact: "contact", account: "account", opportunity: "deal" };
  var RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/; // a GUID, braces removed

  function ready(callback) {
    if (window.leadline && window.leadline.openRecord) callback(window.leadline);
    else window.addEventListener("leadline:ready", function () { callback(window.leadline); }, { once: true });
  }

  var params = new URLSearchParams(window.location.search);
  var id = (params.get("id") || params.get("recordId") || "").replace(/[{}]/g, "").toLowerCase();
  var table = (params.get("typename") || params.get("etn") || params.get("object") || "").toLowerCase();
  if (!id) {
    ready(function (leadline) {
      leadline.notice("Dynamics 365 did not say which record this form shows. Pick a conversation.");
    });
    return;
  }
  if (!RECORD_ID.test(id)) {
    ready(function (leadline) {
      leadline.notice("This form's record id is not a Dynamics 365 id. Pick a conversation.");
    });
    return;
  }
  ready(function (leadline) {
    leadline.openRecord({ object: OBJECTS[table] || table || "lead", id: id });
  });
})();
