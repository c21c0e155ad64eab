// Leadline's texts with the lead or contact a Lightning record page shows: this component frames Leadline's widget
// page and names the record in its URL; the page's glue script (crm/salesforce/embed.js) opens that conversation.
// Deployed by the customer (docs/crm/salesforce.md); the Leadline address is the component's property in App Builder,
// and that address must be a CSP Trusted Site allowed for frame-src.
import { LightningElement, api } from "lwc";

const DEFAULT_HEIGHT = 600;

export default class LeadlineWidget extends LightningElement {
  @api recordId; // set by the record page
  @api objectApiName; // Lead or Contact, set by the record page
  @api leadlineUrl; // e.g. https://app.leadline.example (App Builder property)
  @api height = DEFAULT_HEIGHT;

  get base() {
    const url = (this.leadlineUrl || "").trim().replace(/\/+$/, "");
    return /^https:\/\/[^/?#]+$/.test(url) ? url : "";
  }

  get configured() {
    return Boolean(this.base && this.recordId);
  }

  get frameUrl() {
    const params = new URLSearchParams({
      crm: "salesforce",
      object: this.objectApiName || "",
      recordId: this.recordId || "",
    });
    return `${this.base}/app/?${params.toString()}`;
  }

  get frameStyle() {
    const pixels = Number.parseInt(this.height, 10);
    return `height: ${Number.isFinite(pixels) && pixels > 0 ? pixels : DEFAULT_HEIGHT}px;`;
  }
}
