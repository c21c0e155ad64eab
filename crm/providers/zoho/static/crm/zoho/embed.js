// The widget inside Zoho CRM: Zoho's SDK says which record the page shows (PageLoad), and the widget opens its
// conversation through the page's generic hook, window.leadline.openRecord({object, id}).
(function () {
  "use strict";
  var MODULES = { Leads: "lead", Contacts: "contact", Accounts: "account", Deals: "deal" };

  function ready(callback) {
    if (window.leadline && window.leadline.openRecord) callback(window.leadline);
    else window.addEventListener("leadline:ready", function () { callback(window.leadline); }, { once: true });
  }

  var zoho = window.ZOHO;
  if (!zoho || !zoho.embeddedApp) {
    ready(function (leadline) {
      leadline.notice("Zoho CRM's widget script did not load, so the open record is unknown. Pick a conversation.");
    });
    return;
  }
  zoho.embeddedApp.on("PageLoad", function (data) {
    var id = data && (Array.isArray(data.EntityId) ? data.EntityId[0] : data.EntityId);
    if (!id) return;
    var object = (data && MODULES[data.Entity]) || (data && data.Entity) || "";
    ready(function (leadline) {
      leadline.openRecord({ object: object, id: String(id) });
    });
  });
  zoho.embeddedApp.init();
})();
