// The conversation UI: sign-in, the conversation list, a thread, the composer, polling, and the CRM embed hook
// (window.leadline.openRecord, called by the embedding CRM's glue script, e.g. crm/providers/zoho/static/).
// Every text from the API goes into the page through textContent (el() below): never as HTML.

import { api, newIdempotencyKey, setSession } from "./api.js";
import { MAX_BODY_UNITS, bodyShape, encodingHint } from "./segments.js";

const POLL_MS = 1500; // a new text shows within ~2 s even when a poll is slow
const OPT_OUT_EVERY_TICKS = 6; // the opt-out state is re-read every 9 s, and at once when a text comes in
const LIST_PAGE = 50;
const LIST_MAX = 200; // the API's largest page; past it, search narrows the list
const TEMPLATE_LABELS = { welcome: "Welcome", help: "Help", follow_up: "Follow-up" };
const FIELD_LABELS = {
  first_name: "First name",
  last_name: "Last name",
  full_name: "Full name",
  studio_name: "Studio name",
  owner_name: "Owner's name",
  owner_first_name: "Owner's first name",
};
const FIELD_TOKEN = new RegExp(`\\{(?:${Object.keys(FIELD_LABELS).join("|")})(?:\\|[^{}]*)?\\}`);
const STATUS = {
  queued: ["◷", "Queued"],
  sending: ["◷", "Sending"],
  pending: ["↻", "Retrying: no provider took it yet"],
  accepted: ["✓", "Sent to the carrier"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  undelivered: ["⚠", "Not delivered"],
  failed: ["⚠", "Failed"],
};

const $ = (id) => document.getElementById(id);
const embedded = document.body.dataset.embedded === "1";
const SIGN_IN_URL = document.body.dataset.signInUrl || ""; // the embedding CRM's sign-in (set by the page)

const state = {
  me: null,
  filter: "all",
  q: "",
  conversations: [],
  listKey: "",
  listSize: LIST_PAGE, // the list polls as many rows as "Show more" asked for
  open: null, // the open conversation
  messages: new Map(), // id -> message of the open conversation
  items: new Map(), // id -> its <li>
  nextCursor: null,
  optOut: null,
  templates: new Map(), // studio id -> [{key, text}]
  templateInserted: null, // {key, text, missing, fields, asked} while the box holds an untouched template
  templateTimer: null,
  timer: null,
  tick: 0,
  polling: false,
  sending: false,
  sendKey: null, // {attempt, key}: the Idempotency-Key of the text being sent, kept while it is retried
  crmRecord: null, // the CRM record the embedding page shows ({object, id}), opened once signed in
};

// --- DOM, text only --------------------------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function showNotice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
  delete $("notice").dataset.glue;
}

// A CRM glue's notice (e.g. "this form's record id is not a CRM id"): it stays when the sign-in check clears the
// page's own notices.
function glueNotice(text) {
  showNotice(text);
  if (text) $("notice").dataset.glue = "1";
}

// --- signing in ------------------------------------------------------------------------------------------------
function showSignIn(reason) {
  stopPolling();
  state.me = null;
  $("app").hidden = true;
  $("who").textContent = "";
  $("signin").hidden = false;
  $("signin-reason").textContent = reason || "";
  $("signin-alt").hidden = embedded; // inside a CRM only its sign-in makes sense
  ($("signin-crm") || $("signin-alt").querySelector("a")).focus();
}

function startSignIn(event) {
  const url = (event && event.currentTarget && event.currentTarget.dataset.signInUrl) || SIGN_IN_URL;
  const popup = window.open(url, "leadline-signin", "popup,width=520,height=680");
  if (!popup) showNotice("Allow pop-ups for Leadline to sign in.");
}

function onAuthMessage(event) {
  if (event.origin !== location.origin || !event.data || typeof event.data !== "object") return;
  if (event.data.type === "leadline:session" && event.data.token) {
    setSession({ token: event.data.token, expires_at: event.data.expires_at });
    loadMe();
  } else if (event.data.type === "leadline:unknown-user") {
    showSignIn("Your CRM user is not a Leadline member yet. Ask a manager of your organization to add you.");
  }
}

async function loadMe() {
  try {
    state.me = await api("me/");
  } catch (error) {
    if (error.status === 401) return showSignIn("");
    if (error.status === 403) return showSignIn(`${error.message} Ask a manager of your organization to add you.`);
    return showNotice(error.message);
  }
  if (!$("notice").dataset.glue) showNotice("");
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `${state.me.user.name} · ${state.me.organization.name}`;
  $("filter-unassigned").hidden = !state.me.is_manager;
  await Promise.all([loadTemplates(), refreshList()]).catch(backgroundError);
  startPolling();
  if (state.crmRecord) openForCrmRecord();
  else if (!state.open) $("search").focus();
}

// --- the conversation list -------------------------------------------------------------------------------------
function listParams() {
  const params = { q: state.q.trim(), page_size: state.listSize };
  if (state.filter !== "all") params[state.filter] = "true";
  return params;
}

async function refreshList() {
  const data = await api("conversations/", { params: listParams() });
  $("more-conversations").hidden = !data.next_cursor || state.listSize >= LIST_MAX;
  const key = JSON.stringify(data.results);
  if (key === state.listKey) return;
  state.listKey = key;
  state.conversations = data.results;
  renderList();
  const open = state.open && data.results.find((c) => c.id === state.open.id);
  if (open) {
    state.open = open;
    renderThreadHead();
  }
}

function renderList() {
  const list = $("conversations");
  const focused = document.activeElement && document.activeElement.dataset.conversationId;
  list.replaceChildren(...state.conversations.map(conversationItem));
  $("conversations-empty").hidden = state.conversations.length > 0;
  if (focused) {
    const again = list.querySelector(`[data-conversation-id="${Number(focused)}"]`);
    if (again) again.focus();
  }
}

function conversationItem(conversation) {
  const name = conversation.contact.name || conversation.contact.phone;
  const studio = conversation.unassigned ? "Unassigned" : conversation.studio.name;
  const unread = conversation.unread_count;
  const button = el(
    "button",
    {
      type: "button",
      class: "conversation",
      dataset: { conversationId: String(conversation.id) },
      "aria-current": state.open && state.open.id === conversation.id ? "true" : null,
    },
    el("span", { class: "conversation-name" }, name),
    el("span", { class: "conversation-meta" }, `${studio} · ${when(conversation.last_message_at)}`),
    unread ? el("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)) : null,
    conversation.needs_attention ? el("span", { class: "badge attention" }, "Needs attention") : null,
  );
  button.addEventListener("click", () => openConversation(conversation.id));
  return el("li", {}, button);
}

// --- a thread --------------------------------------------------------------------------------------------------
async function openConversation(id) {
  let conversation;
  try {
    conversation = await api(`conversations/${id}/`);
  } catch (error) {
    return showNotice(error.message);
  }
  state.open = conversation;
  state.messages = new Map();
  state.items = new Map();
  state.nextCursor = null;
  state.optOut = null;
  templateClear();
  $("messages").replaceChildren();
  $("composer-body").value = "";
  $("composer-error").hidden = true;
  $("thread-pane").hidden = false;
  $("app").classList.add("thread-open");
  renderThreadHead();
  renderList();
  setupPickers();
  updateCounter();
  try {
    await Promise.all([loadMessages(), refreshOptOut(), refreshCrmCard()]);
    await markRead();
  } catch (error) {
    backgroundError(error);
  }
  const box = $("composer-body");
  (box.disabled ? $("thread-title") : box).focus();
}

function closeConversation() {
  const id = state.open && state.open.id;
  $("app").classList.remove("thread-open");
  const item = id && $("conversations").querySelector(`[data-conversation-id="${id}"]`);
  (item || $("search")).focus();
}

function renderThreadHead() {
  const c = state.open;
  $("thread-title").textContent = c.contact.name || c.contact.phone;
  $("thread-title").tabIndex = -1;
  const studio = c.unassigned ? "Unassigned" : c.studio.name;
  $("thread-meta").textContent = c.contact.name ? `${c.contact.phone} · ${studio}` : studio;
  $("attention-banner").textContent = c.needs_attention ? `Needs attention: ${c.attention_reason || "a person should look."}` : "";
  $("attention-banner").hidden = !c.needs_attention;
}

async function loadMessages() {
  const id = state.open.id;
  const data = await api(`conversations/${id}/messages/`, { params: { page_size: 50 } });
  if (!state.open || state.open.id !== id) return [];
  if (state.messages.size === 0) {
    state.nextCursor = data.next_cursor;
    $("older").hidden = !state.nextCursor;
  }
  return mergeMessages(data.results);
}

async function loadOlder() {
  const id = state.open.id;
  try {
    const data = await api(`conversations/${id}/messages/`, { params: { page_size: 50, cursor: state.nextCursor } });
    if (state.open.id !== id) return;
    state.nextCursor = data.next_cursor;
    $("older").hidden = !state.nextCursor;
    mergeMessages(data.results);
  } catch (error) {
    showNotice(error.message);
  }
}

function sortKey(message) {
  return [Date.parse(message.created_at), message.id];
}

function isBefore(a, b) {
  const [ta, ia] = sortKey(a);
  const [tb, ib] = sortKey(b);
  return ta < tb || (ta === tb && ia < ib);
}

// New texts are inserted in time order; a known one is redrawn only when its status (or error) changed.
function mergeMessages(messages) {
  const added = [];
  const list = $("messages");
  for (const message of messages) {
    const known = state.messages.get(message.id);
    if (known && known.status === message.status && known.error_message === message.error_message) continue;
    state.messages.set(message.id, message);
    const item = messageItem(message);
    if (known) {
      state.items.get(message.id).replaceWith(item);
    } else {
      added.push(message);
      const later = [...list.children].find((node) =>
        isBefore(message, state.messages.get(Number(node.dataset.messageId))),
      );
      list.insertBefore(item, later || null);
    }
    state.items.set(message.id, item);
  }
  if (added.length) list.lastElementChild?.scrollIntoView({ block: "end" });
  return added;
}

function messageItem(message) {
  const inbound = message.direction === "inbound";
  const [icon, label] = STATUS[message.status] || ["", message.status];
  const who = inbound ? "" : message.sent_by_name || (message.kind === "keyword_reply" ? "Auto-reply" : "Automation");
  const failed = message.status === "failed" || message.status === "undelivered";
  const status = inbound
    ? null
    : el(
        "span",
        { class: `status status-${message.status}` },
        icon ? el("span", { class: "status-icon", "aria-hidden": "true" }, icon) : null,
        ` ${label}`,
      );
  return el(
    "li",
    { class: `message ${inbound ? "inbound" : "outbound"}${failed ? " failed" : ""}`, dataset: { messageId: String(message.id) } },
    el("p", { class: "body" }, message.body),
    el("p", { class: "message-meta" }, [when(message.created_at), who].filter(Boolean).join(" · "), status ? " · " : null, status),
    failed
      ? el(
          "p",
          { class: "failure" },
          message.error_message || "The carrier did not deliver this text.",
          message.error_code ? ` (code ${message.error_code})` : "",
        )
      : null,
  );
}

// The CRM card: the linked record's name, status and owner, and a link to its page in the CRM. A CRM that does not
// answer leaves the card empty (the thread still works).
async function refreshCrmCard() {
  const c = state.open;
  const box = $("crm-card");
  box.replaceChildren();
  box.hidden = true;
  if (!c.contact.crm_linked) return;
  let data;
  try {
    data = await api(`contacts/${c.contact.id}/crm/`);
  } catch (error) {
    if (error.status === 401) throw error;
    return;
  }
  if (!state.open || state.open.id !== c.id || !data.linked) return;
  const kind = data.object === "contact" ? "Contact" : "Lead";
  if (!data.found) {
    box.append(`${kind} no longer in the CRM`);
  } else {
    const parts = [data.name ? `${kind}: ${data.name}` : kind];
    if (data.status) parts.push(data.status);
    if (data.owner_name) parts.push(`owner ${data.owner_name}`);
    box.append(parts.join(" · "));
    if (/^https?:\/\//.test(data.url || "")) {
      const label = `Open in ${data.crm || "the CRM"}`;
      box.append(" · ", el("a", { href: data.url, target: "_blank", rel: "noopener noreferrer" }, label));
    }
  }
  box.hidden = false;
}

async function refreshOptOut() {
  const c = state.open;
  const data = await api(`contacts/${c.contact.id}/opt-out/`);
  if (!state.open || state.open.id !== c.id) return;
  state.optOut = data;
  renderComposerState();
}

// On opening, only when something is unread; after a text came in while open, always.
async function markRead({ arrived = false } = {}) {
  const c = state.open;
  if (!c || document.hidden || !(arrived || c.unread_count)) return;
  const inboundIds = [...state.messages.values()].filter((m) => m.direction === "inbound").map((m) => m.id);
  const read = await api(`conversations/${c.id}/read/`, {
    method: "POST",
    body: { last_seen_message_id: inboundIds.length ? Math.max(...inboundIds) : null },
  });
  if (state.open && state.open.id === read.id) state.open = read;
  state.listKey = "";
}

// --- the composer ----------------------------------------------------------------------------------------------
function studioOf(id) {
  return (state.me.studios || []).find((s) => s.id === id) || null;
}

function chosenStudioId() {
  const picker = $("studio");
  if (!$("studio-picker").hidden && picker.value) return Number(picker.value);
  return state.open.studio ? state.open.studio.id : null;
}

function setupPickers() {
  const studios = state.me.studios || [];
  const picker = $("studio");
  const canChoose = state.me.is_manager && studios.length > 0;
  $("studio-picker").hidden = !canChoose;
  if (canChoose) {
    const current = state.open.studio ? state.open.studio.id : null;
    picker.replaceChildren(
      ...(current ? [] : [el("option", { value: "" }, "Choose a studio")]),
      ...studios.map((s) => el("option", { value: String(s.id), selected: s.id === current }, s.name)),
    );
  }
  setupNumbers();
  setupTemplates();
}

function setupNumbers() {
  const studio = studioOf(chosenStudioId());
  const numbers = studio ? studio.numbers : [];
  $("number-picker").hidden = numbers.length < 2;
  $("number").replaceChildren(
    el("option", { value: "" }, "The studio's default number"),
    ...numbers.map((n) =>
      el("option", { value: String(n.id) }, `${n.number}${n.label ? ` (${n.label})` : ""}${n.shared ? " · shared" : ""}`),
    ),
  );
}

async function loadTemplates() {
  const rows = await api("templates/");
  state.templates = new Map(rows.map((row) => [row.studio_id, row.templates.filter((t) => t.text.trim())]));
}

function setupTemplates() {
  const templates = state.templates.get(chosenStudioId()) || [];
  $("template").replaceChildren(
    el("option", { value: "" }, "None"),
    ...templates.map((t) => el("option", { value: t.key }, TEMPLATE_LABELS[t.key] || t.key)),
  );
  templateClear();
}

// The server renders a template (one template language, owner fields from the CRM). A field the template needs
// that is blank for this contact comes back in missing_fields and stays in the text as {field}: the sender fills
// it in below the pickers before the text can go.
function templateRender(key, fields) {
  const body = { template: key, merge_fields: fields };
  const studioId = chosenStudioId();
  if (studioId !== null) body.studio_id = studioId;
  if (state.open) body.conversation_id = state.open.id;
  return api("templates/render/", { method: "POST", body });
}

function templateFieldsBox() {
  let box = $("template-fields");
  if (!box) {
    box = el("fieldset", { id: "template-fields", class: "template-fields", hidden: true });
    $("composer").querySelector(".pickers").after(box);
  }
  return box;
}

function templateClear() {
  clearTimeout(state.templateTimer);
  state.templateInserted = null;
  const box = $("template-fields");
  if (box) {
    box.replaceChildren();
    box.hidden = true;
  }
}

function showTemplateFields(asked) {
  const box = templateFieldsBox();
  box.replaceChildren(
    el("legend", {}, "Not known for this contact, and the template has no fallback: fill in to send"),
    ...asked.map((name) =>
      el(
        "span",
        { class: "template-field" },
        el("label", { htmlFor: `merge-${name}` }, FIELD_LABELS[name] || name),
        " ",
        el("input", { id: `merge-${name}`, type: "text", maxLength: 200, autocomplete: "off", oninput: onTemplateFieldInput }),
      ),
    ),
  );
  box.hidden = asked.length === 0;
}

function missingText(missing) {
  return missing.map((name) => (FIELD_LABELS[name] || name).toLowerCase()).join(" and ");
}

async function onTemplateChosen() {
  const key = $("template").value;
  const box = $("composer-body");
  if (!key) {
    if (state.templateInserted && box.value === state.templateInserted.text) box.value = "";
    templateClear();
  } else {
    const conversationId = state.open.id;
    let rendered;
    try {
      rendered = await templateRender(key, {});
    } catch (error) {
      if (error.status === 401) return;
      $("template").value = "";
      templateClear();
      return showComposerError(error.message);
    }
    if (!state.open || state.open.id !== conversationId || $("template").value !== key) return; // moved on
    templateClear();
    box.value = rendered.text;
    const asked = rendered.missing_fields;
    state.templateInserted = { key, text: rendered.text, missing: asked, fields: {}, asked };
    showTemplateFields(asked);
    showComposerError("");
  }
  updateCounter();
  if (state.templateInserted && state.templateInserted.missing.length)
    $(`merge-${state.templateInserted.missing[0]}`).focus();
  else box.focus();
}

function onTemplateFieldInput() {
  clearTimeout(state.templateTimer);
  state.templateTimer = setTimeout(() => templateRefresh().catch(backgroundError), 250);
}

async function templateRefresh() {
  const inserted = state.templateInserted;
  const box = $("composer-body");
  if (!inserted || box.value !== inserted.text) return; // edited by hand: it goes out as typed
  const fields = {};
  for (const name of inserted.asked) {
    const value = $(`merge-${name}`).value.trim();
    if (value) fields[name] = value;
  }
  const rendered = await templateRender(inserted.key, fields);
  if (state.templateInserted !== inserted || box.value !== inserted.text) return;
  box.value = rendered.text;
  Object.assign(inserted, { text: rendered.text, missing: rendered.missing_fields, fields });
  if (!inserted.missing.length) showComposerError("");
  updateCounter();
}

function updateCounter() {
  const box = $("composer-body");
  const shape = bodyShape(box.value);
  const over = shape.units > MAX_BODY_UNITS;
  const chars = `${shape.units} character${shape.units === 1 ? "" : "s"}`;
  const parts = `${shape.segments} segment${shape.segments === 1 ? "" : "s"}`;
  $("counter").textContent = `${chars} · ${parts} · ${shape.encoding === "GSM-7" ? "GSM-7" : "Unicode (UCS-2)"}`;
  $("counter").classList.toggle("over", over);
  let hint = encodingHint(shape.encoding);
  if (over) hint = `Too long: the limit is ${MAX_BODY_UNITS} characters. Shorten it or send two texts.`;
  else if (state.templateInserted && box.value === state.templateInserted.text && state.templateInserted.missing.length)
    hint += `. Fill in the ${missingText(state.templateInserted.missing)} above to send.`;
  $("encoding-hint").textContent = hint;
}

function renderComposerState() {
  const out = Boolean(state.optOut && state.optOut.opted_out);
  const banner = $("opt-out-banner");
  const name = state.open.contact.name || state.open.contact.phone;
  const since = state.optOut && state.optOut.changed_at ? ` on ${when(state.optOut.changed_at)}` : "";
  // Opted in, yet blocked by the provider on numbers they texted STOP to (and START only to another number).
  const blocked = (!out && state.optOut && state.optOut.blocked_senders) || [];
  const numbers = blocked.map((b) => b.number).join(", ");
  banner.textContent = out
    ? `${name} opted out of texts${since} (replied STOP). Sending is off until they text START.`
    : blocked.length
      ? `${name} texted STOP to ${numbers}; ${blocked.length === 1 ? "it" : "they"} cannot text them until they text START to ${blocked.length === 1 ? "it" : "each"}. Your other numbers still can.`
      : "";
  banner.hidden = !out && !blocked.length;
  for (const id of ["composer-body", "send", "template", "studio", "number"]) $(id).disabled = out || (id === "send" && state.sending);
  $("composer-body").setAttribute("aria-describedby", out ? "opt-out-banner counter encoding-hint" : "counter encoding-hint");
}

function showComposerError(text) {
  $("composer-error").textContent = text || "";
  $("composer-error").hidden = !text;
}

async function send(event) {
  if (event) event.preventDefault();
  const box = $("composer-body");
  if (state.sending || box.disabled) return;
  const text = box.value;
  if (!text.trim()) return showComposerError("Write a message first.");
  if (bodyShape(text).units > MAX_BODY_UNITS)
    return showComposerError(`The message is over ${MAX_BODY_UNITS} characters. Shorten it or send two texts.`);
  const studioId = chosenStudioId();
  if (studioId === null) return showComposerError("This conversation is unassigned: choose the studio to send from.");
  const inserted = state.templateInserted && text === state.templateInserted.text ? state.templateInserted : null;
  if (inserted && inserted.missing.length) {
    $(`merge-${inserted.missing[0]}`).focus();
    return showComposerError(`Fill in the ${missingText(inserted.missing)} first: blank for this contact.`);
  }
  if (!inserted && FIELD_TOKEN.test(text))
    return showComposerError(`Replace ${text.match(FIELD_TOKEN)[0]} with what it stands for before sending.`);
  const payload = inserted ? { template: inserted.key, merge_fields: inserted.fields } : { body: text };
  if (!state.open.studio || studioId !== state.open.studio.id) payload.studio_id = studioId;
  if ($("number").value) payload.from_number_id = Number($("number").value);
  const conversationId = state.open.id;
  state.sending = true;
  renderComposerState();
  try {
    // The same text to the same thread keeps its key across retries (a lost answer, a click on Send again).
    const attempt = JSON.stringify([conversationId, payload]);
    if (!state.sendKey || state.sendKey.attempt !== attempt) state.sendKey = { attempt, key: newIdempotencyKey() };
    const message = await api(`conversations/${conversationId}/messages/`, {
      method: "POST",
      body: payload,
      idempotencyKey: state.sendKey.key,
    });
    state.sendKey = null; // sent: the next text is a new one
    showComposerError("");
    if (state.open && state.open.id === conversationId) {
      box.value = "";
      $("template").value = "";
      templateClear();
      mergeMessages([message]);
      updateCounter();
    }
  } catch (error) {
    showComposerError(error.message); // the text stays in the box
    if (error.status === 400 && state.open) refreshOptOut().catch(() => {});
  } finally {
    state.sending = false;
    if (state.open) renderComposerState();
    box.focus();
  }
}

// --- polling ---------------------------------------------------------------------------------------------------
function startPolling() {
  stopPolling();
  if (document.hidden || !state.me) return;
  state.timer = setInterval(pollOnce, POLL_MS);
}

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

async function pollOnce() {
  if (state.polling || !state.me) return;
  state.polling = true;
  state.tick += 1;
  try {
    if (state.open) {
      const added = await loadMessages();
      const inbound = added.some((m) => m.direction === "inbound");
      if (inbound || state.tick % OPT_OUT_EVERY_TICKS === 0) await refreshOptOut();
      if (inbound) await markRead({ arrived: true });
    }
    await refreshList();
    if ($("notice").dataset.offline) {
      delete $("notice").dataset.offline;
      showNotice("");
    }
  } catch (error) {
    backgroundError(error);
  } finally {
    state.polling = false;
  }
}

function backgroundError(error) {
  if (error.status === 401) return; // the signed-out event shows the sign-in
  $("notice").dataset.offline = "1";
  showNotice(error.message);
}

function onVisibility() {
  if (document.hidden) stopPolling();
  else if (state.me) {
    pollOnce();
    startPolling();
  }
}

// --- inside a CRM ------------------------------------------------------------------------------------------------
// The embedding CRM's glue script says which record its page shows; its conversation opens once signed in.
function openRecord(record) {
  if (!record || !record.id) return;
  state.crmRecord = { object: String(record.object || ""), id: String(record.id) };
  if (state.me) openForCrmRecord();
}

async function openForCrmRecord() {
  const recordId = state.crmRecord.id;
  state.crmRecord = null;
  try {
    const data = await api("conversations/", { params: { crm_record_id: recordId, page_size: 1 } });
    if (data.results.length) await openConversation(data.results[0].id);
    else showNotice("No texts with this lead yet in the studios you work in.");
  } catch (error) {
    backgroundError(error);
  }
}

// --- wiring ------------------------------------------------------------------------------------------------------
function bindUi() {
  for (const button of document.querySelectorAll(".signin-crm")) button.addEventListener("click", startSignIn);
  $("list-tools").addEventListener("submit", (event) => event.preventDefault());
  let searchTimer = null;
  $("search").addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.q = event.target.value;
      refreshList().catch(backgroundError);
    }, 250);
  });
  for (const radio of document.querySelectorAll('input[name="filter"]')) {
    radio.addEventListener("change", () => {
      state.filter = radio.value;
      refreshList().catch(backgroundError);
    });
  }
  $("back").addEventListener("click", closeConversation);
  $("thread-pane").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeConversation();
  });
  $("older").addEventListener("click", loadOlder);
  $("more-conversations").addEventListener("click", () => {
    state.listSize = Math.min(state.listSize + LIST_PAGE, LIST_MAX);
    refreshList().catch(backgroundError);
  });
  $("composer").addEventListener("submit", send);
  $("composer-body").addEventListener("input", updateCounter);
  $("composer-body").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  $("template").addEventListener("change", onTemplateChosen);
  $("studio").addEventListener("change", () => {
    setupNumbers();
    setupTemplates();
    updateCounter();
  });
  window.addEventListener("message", onAuthMessage);
  window.addEventListener("leadline:signed-out", () => showSignIn("Your session ended. Sign in again."));
  document.addEventListener("visibilitychange", onVisibility);
}

bindUi();
window.leadline = Object.freeze({ openRecord, notice: glueNotice });
window.dispatchEvent(new Event("leadline:ready"));
loadMe();
