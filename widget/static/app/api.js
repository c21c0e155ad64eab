// Calls to /api/v1/: a bearer token when we have one (sign-in through a CRM), else the session cookie with CSRF.
// Every failure becomes an ApiError carrying the API's one error shape {"message", "extra"}.

const TOKEN_KEY = "leadline.session";
let session = readStoredSession(); // {token, expires_at} or null

export class ApiError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function readStoredSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
    return stored && stored.token && !isExpired(stored) ? stored : null;
  } catch {
    return null;
  }
}

function isExpired(value) {
  return value.expires_at && Date.parse(value.expires_at) <= Date.now();
}

export function setSession(value) {
  session = value && value.token ? { token: value.token, expires_at: value.expires_at || null } : null;
  try {
    if (session) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be blocked inside a third-party frame; the token then lives in memory only.
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// One key per composed text, kept across retries of it: the API answers a retry with the first result and sends
// nothing new (Idempotency-Key), so a send whose answer was lost never texts the lead twice.
export function newIdempotencyKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function api(path, { method = "GET", body, params, idempotencyKey } = {}) {
  const url = new URL(`/api/v1/${path}`, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "" && value !== false) url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (session && isExpired(session)) setSession(null);
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = csrfToken();
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "Leadline can't be reached. Check your connection; it will keep trying.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) {
      setSession(null);
      window.dispatchEvent(new CustomEvent("leadline:signed-out"));
    }
    throw new ApiError(response.status, friendlyMessage(response.status, data), (data && data.extra) || {});
  }
  return data;
}

// "Validation error" says nothing to a person: show what each field's error says instead.
function friendlyMessage(status, data) {
  if (!data || !data.message) return `Something went wrong (HTTP ${status}). Try again.`;
  const fields = data.extra && data.extra.fields;
  if (!fields || typeof fields !== "object") return data.message;
  const parts = Object.entries(fields).flatMap(([field, errors]) =>
    (Array.isArray(errors) ? errors : [String(errors)]).map((e) =>
      field === "non_field_errors" ? String(e) : `${field.replace(/_/g, " ")}: ${e}`,
    ),
  );
  return parts.length ? parts.join(" ") : data.message;
}
