// The cabinet API (docs/cabinet-api.md): JSON with "Authorization: tma <initData>".
let base = "/";
let initData = "";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || (status ? `http_${status}` : "offline");
  }
}

export function configure(apiUrl, data) {
  base = apiUrl.endsWith("/") ? apiUrl : `${apiUrl}/`;
  initData = data || "";
}

export async function request(path, { method = "GET", body, query } = {}) {
  const url = new URL(`cabinet/${path}`, new URL(base, location.href));
  for (const [key, value] of Object.entries(query || {})) if (value != null) url.searchParams.set(key, value);
  const headers = { Authorization: `tma ${initData}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "offline", "");
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    throw new ApiError(response.status, error.code, error.message);
  }
  return payload;
}

export const me = () => request("me");
export const ledger = (cursor) => request("ledger", { query: { cursor } });
export const generations = (cursor) => request("generations", { query: { cursor, limit: 12 } });
export const packs = () => request("packs");
export const buy = (productId, method) => request("buy", { method: "POST", body: { product_id: productId, method } });
export const redeem = (code) => request("promo", { method: "POST", body: { code } });
export const saveSettings = (change) => request("settings", { method: "PATCH", body: change });

// The operator's routes (/cabinet/admin/...; ADMIN_IDS only).
const post = (path, body) => request(path, { method: "POST", body });
const id = (value) => encodeURIComponent(String(value));
export const admin = {
  stats: () => request("admin/stats"),
  failedJobs: () => request("admin/jobs/failed"),
  user: (userId) => request(`admin/users/${id(userId)}`),
  block: (userId, blocked, reason) => post(`admin/users/${id(userId)}/${blocked ? "block" : "unblock"}`, { reason }),
  grant: (userId, body) => post(`admin/users/${id(userId)}/grant`, body),
  refund: (paymentId, reason) => post(`admin/payments/${id(paymentId)}/refund`, { reason }),
  promos: () => request("admin/promo"),
  createPromo: (body) => post("admin/promo", body),
  disablePromo: (code, reason) => post(`admin/promo/${id(code)}/disable`, { reason }),
  setting: (key) => request(`admin/settings/${id(key)}`),
  saveSetting: (key, value, reason) => request(`admin/settings/${id(key)}`, { method: "PUT", body: { value, reason } }),
  createBroadcast: (body) => post("admin/broadcasts", body),
  startBroadcast: (broadcastId) => post(`admin/broadcasts/${id(broadcastId)}/start`),
  broadcast: (broadcastId) => request(`admin/broadcasts/${id(broadcastId)}`),
  audit: () => request("admin/audit"),
  log: (cursor) => request("admin/log", { query: { cursor } }),
};
