// The widget inside a Salesforce Lightning record page: the Leadline Lightning component (leadlineWidget) frames
// this page with the record it shows in the URL (?crm=salesforce&object=Lead&recordId=00Q...); the widget opens its
// conversation through the page's generic hook, window.leadline.openRecord({object, id}).
(function () {
  "use strict";
  var OBJECTS = { Lead: "lead", Contact: "contact", Account: "account", Opportunity: "deal" };
  // A Salesforce record id: 15 or 18 letters and digits (the component sends the 18-character form).
  var RECORD_ID = /^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/;

  function ready(callback) {
    if (window.leadline && window.leadline.openRecord) callback(window.leadline);
    else window.addEventListener("leadline:ready", function () { callback(window.leadline); }, { once: true });
  }

  var params = new URLSearchParams(window.location.search);
  var id = params.get("recordId") || "";
  var sobject = params.get("object") || "";
  if (!id) {
    ready(function (leadline) {
      leadline.notice("Salesforce did not say which record this page shows. Pick a conversation.");
    });
    return;
  }
  if (!RECORD_ID.test(id)) {
    ready(function (leadline) {
      leadline.notice("This page's record id is not a Salesforce id. Pick a conversation.");
    });
    return;
  }
  ready(function (leadline) {
    leadline.openRecord({ object: OBJECTS[sobject] || sobject, id: id });
  });
})();
