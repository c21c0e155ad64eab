// The widget opened from a HubSpot record: a link on the record (an app card's, or a link property) opens this page
// in its own tab with the record in the URL (?crm=hubspot&object=contact&recordId=123); the widget opens its
// conversation through the page's generic hook, window.leadline.openRecord({object, id}).
(function () {
  "use strict";
  // HubSpot's object names and type ids, as Leadline names them (a HubSpot contact is Leadline's lead).
  var OBJECTS = {
    contact: "lead", contacts: "lead", "0-1": "lead",
    company: "account", companies: "account", "0-2": "account",
    deal: "deal", deals: "deal", "0-3": "deal",
  };
  var RECORD_ID = /^[0-9]{1,20}$/; // HubSpot record ids are numbers

  function ready(callback) {
    if (window.leadline && window.leadline.openRecord) callback(window.leadline);
    else window.addEventListener("leadline:ready", function () { callback(window.leadline); }, { once: true });
  }

  var params = new URLSearchParams(window.location.search);
  var id = params.get("recordId") || params.get("objectId") || "";
  var object = (params.get("object") || params.get("objectTypeId") || "contact").toLowerCase();
  if (!id) {
    ready(function (leadline) {
      leadline.notice("HubSpot did not say which record to open. Pick a conversation.");
    });
    return;
  }
  if (!RECORD_ID.test(id)) {
    ready(function (leadline) {
      leadline.notice("This link's record id is not a HubSpot id. Pick a conversation.");
    });
    return;
  }
  ready(function (leadline) {
    leadline.openRecord({ object: OBJECTS[object] || object, id: id });
  });
})();
