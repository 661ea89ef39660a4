// The operator's section (ADMIN_IDS only; loaded by app.js when /cabinet/me says is_admin):
// stats, users, promo codes, settings, broadcasts, the admin log and the ledger audit.
import * as api from "./api.js";
import { el, spinner, toast } from "./dom.js";
import { credits, formatDate, formatDay, formatNumber, t } from "./i18n.js";
import { choice, errorState, loadInto, paged, section, signed } from "./views.js";

const SECTIONS = ["stats", "users", "promo", "settings", "broadcasts", "log", "audit"];
const SETTING_KEYS = ["prices", "packs", "catalog", "subscription"];
const SETTING_EXAMPLES = {
  prices: '{"image/standard": 1, "video/pro": 25}',
  packs: '{"s": {"credits": 50, "stars": 100, "rubles": 199}}',
  catalog: '{"image": {"standard": [{"provider": "…", "model": "…"}]}}',
  subscription: '{"credits_per_period": 300, "chat_per_day": 100, "month_stars": 450, "year_stars": 4500}',
};
const POLL_MS = 1500;

export function admin(ctx) {
  const body = el("div", { id: "admin-body" });
  const nav = el("nav", { class: "subtabs", id: "admin-nav", "aria-label": t("tab_admin") });
  const open = (name) => {
    ctx.adminSection = name;
    nav.replaceChildren(
      ...SECTIONS.map((item) =>
        el("button", {
          type: "button",
          class: "chip",
          id: `admin-${item}`,
          "aria-pressed": String(item === name),
          text: t(`a_${item}`),
          onclick: () => open(item),
        }),
      ),
    );
    body.dataset.section = name;
    body.replaceChildren(RENDER[name](ctx, open));
  };
  ctx.openUser = (userId) => {
    ctx.adminUser = String(userId);
    open("users");
  };
  open(SECTIONS.includes(ctx.adminSection) ? ctx.adminSection : "stats");
  return el("div", { class: "admin" }, nav, body);
}

// -- shared bits ------------------------------------------------------------------------------

const message = (error) => (error.code === "offline" ? t("offline") : error.message);

function say(note, text, kind = "") {
  note.textContent = text;
  note.className = `form-note ${kind}`;
}

const note = (id) => el("p", { class: "form-note", id, role: "status" });

function field(label, input, hint) {
  const tag = input.matches("input, textarea, select") ? "label" : "div"; // a radio group: no label around
  return el(tag, { class: "field" }, el("span", { class: "field-label", text: label }), input, hint ? el("small", { class: "muted", text: hint }) : null);
}

// A button that runs an async action once at a time (a double click sends one request).
async function busy(button, action) {
  if (button.disabled) return;
  button.disabled = true;
  try {
    await action();
  } finally {
    button.disabled = false;
  }
}

function money(amount, currency) {
  if (currency === "XTR") return `${formatNumber(amount)} ⭐`;
  if (currency === "RUB") return `${new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(amount / 100)} ₽`;
  return `${formatNumber(amount)} ${currency}`;
}

// The key's label if i18n has one ("a_status_done"), else the value as the API sent it.
function label(prefix, value) {
  const key = `${prefix}${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

const pill = (text, kind = "") => el("span", { class: `pill ${kind}`, text });

const empty = (text) => el("div", { class: "state empty", text });

function newKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// An inline "are you sure?" with a reason, under `anchor` (one at a time).
function confirmInline(anchor, question, confirmText, run) {
  anchor.querySelector(".confirm")?.remove();
  const reason = el("input", { type: "text", class: "confirm-reason", placeholder: t("a_reason"), maxlength: "500" });
  const result = note(null);
  const yes = el("button", { type: "button", class: "btn danger confirm-yes", text: confirmText });
  const box = el(
    "div",
    { class: "confirm", role: "group" },
    el("p", { text: question }),
    reason,
    el("div", { class: "row" }, el("button", { type: "button", class: "btn secondary", text: t("a_cancel"), onclick: () => box.remove() }), yes),
    result,
  );
  yes.addEventListener("click", () =>
    busy(yes, async () => {
      try {
        await run(reason.value.trim());
      } catch (error) {
        say(result, message(error), "bad");
      }
    }),
  );
  anchor.append(box);
  reason.focus();
}

function listRow(attrs, main, side) {
  return el("li", attrs, el("div", { class: "ledger-what" }, ...main), side);
}

const sub = (text) => el("span", { class: "muted small", text });
const when = (iso) => el("time", { class: "muted small", datetime: iso, text: formatDate(iso) });

// -- users ------------------------------------------------------------------------------------

function users(ctx) {
  const input = el("input", {
    type: "text",
    id: "user-id",
    inputmode: "numeric",
    autocomplete: "off",
    placeholder: t("a_user_id"),
    "aria-label": t("a_user_id"),
    value: ctx.adminUser || "",
  });
  const hint = note("user-note");
  const result = el("div", { id: "user-view", class: "stack" });
  const lookup = (userId) => {
    ctx.adminUser = userId;
    const reload = () => lookup(userId);
    loadInto(result, () => api.admin.user(userId), (data) => userView(ctx, data, reload), ctx);
  };
  const form = el("form", { class: "inline-form", id: "user-form" }, input, el("button", { class: "btn", type: "submit", text: t("a_find") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!/^\d{1,16}$/.test(value)) return say(hint, t("a_user_id_bad"), "bad");
    say(hint, "");
    lookup(value);
  });
  if (ctx.adminUser) lookup(ctx.adminUser);
  return el("div", { class: "stack" }, section(t("a_users"), form, hint), result);
}

function fact(name, value) {
  return value == null || value === "" ? null : el("div", {}, el("dt", { text: name }), el("dd", { text: String(value) }));
}

function userView(ctx, data, reload) {
  const u = data.user;
  const banned = "banned" in u ? Boolean(u.banned) : Boolean(u.blocked);
  const name = [u.first_name, u.username ? `@${u.username}` : null].filter(Boolean).join(" ") || `#${u.user_id}`;
  const facts = section(
    null,
    el(
      "div",
      { class: "user-head" },
      el("div", {}, el("strong", { class: "user-name", text: name }), sub(`id ${u.user_id} · ${u.language}`)),
      el(
        "div",
        { class: "user-flags" },
        "banned" in u && u.banned ? pill(t("a_banned"), "bad") : null,
        u.blocked ? pill("banned" in u ? t("a_blocked_bot") : t("a_blocked"), "bad") : null,
      ),
    ),
    el("div", { class: "balance", id: "user-balance", "data-balance": String(u.balance), text: credits(u.balance) }),
    el(
      "dl",
      { class: "facts" },
      fact(t("a_created"), formatDate(u.created_at)),
      fact(t("a_seen"), u.seen_at && formatDate(u.seen_at)),
      fact(t("a_generations"), formatNumber(u.generations)),
      fact(t("a_referrals"), formatNumber(u.referrals)),
      fact(t("a_referrer"), u.referrer_id),
      fact(t("a_subscription"), u.subscription_until && formatDate(u.subscription_until, false)),
      fact(t("a_first_paid"), u.first_paid_at && formatDate(u.first_paid_at)),
    ),
  );
  facts.id = "user-facts";
  facts.dataset.user = String(u.user_id);
  return [facts, grantForm(u, reload), blockForm(u, banned, reload), ledgerList(data.ledger), paymentList(data.payments, reload), jobList(data.jobs)];
}

function grantForm(u, reload) {
  const key = newKey(); // one per form open: a repeated submit grants once
  const amount = el("input", { type: "number", id: "grant-credits", step: "1", required: true, placeholder: "10 / -10" });
  const reason = el("input", { type: "text", id: "grant-reason", required: true, maxlength: "500", placeholder: t("a_reason_hint") });
  const button = el("button", { class: "btn", type: "submit", id: "grant-submit", text: t("a_grant_do") });
  const result = note("grant-note");
  const form = el(
    "form",
    { class: "form-grid", id: "grant-form", "data-key": key, novalidate: true },
    field(t("a_credits"), amount, t("a_grant_hint")),
    field(t("a_reason"), reason),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const n = Number(amount.value);
    if (!Number.isInteger(n) || n === 0) return say(result, t("a_grant_bad"), "bad");
    if (!reason.value.trim()) return say(result, t("a_reason_needed"), "bad");
    button.disabled = true;
    try {
      const done = await api.admin.grant(u.user_id, { credits: n, reason: reason.value.trim(), idempotency_key: key });
      if (done.applied) {
        toast(t("a_granted", { n: signed(n), balance: formatNumber(done.balance) }), "ok");
        reload();
      } else say(result, t("a_grant_repeat"));
    } catch (error) {
      say(result, message(error), "bad");
      button.disabled = false;
    }
  });
  return section(t("a_grant"), form, result);
}

function blockForm(u, banned, reload) {
  const reason = el("input", { type: "text", id: "block-reason", maxlength: "500", placeholder: t("a_reason_hint"), "aria-label": t("a_reason") });
  const result = note("block-note");
  const button = el("button", { class: banned ? "btn" : "btn danger", type: "submit", id: "block-submit", text: t(banned ? "a_unblock" : "a_block") });
  const form = el("form", { class: "inline-form", id: "block-form" }, reason, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      try {
        await api.admin.block(u.user_id, !banned, reason.value.trim());
        toast(t(banned ? "a_unblocked" : "a_blocked_done"), "ok");
        reload();
      } catch (error) {
        say(result, message(error), "bad");
      }
    });
  });
  return section(t(banned ? "a_unblock_title" : "a_block_title"), el("p", { class: "muted small", text: t("a_block_hint") }), form, result);
}

function ledgerList(items) {
  const list = el(
    "ul",
    { class: "ledger", id: "user-ledger" },
    items.map((e) =>
      listRow(
        { "data-op": e.op_id },
        [el("span", { class: "ledger-label", text: label("a_kind_", e.kind) }), e.note ? sub(e.note) : null, sub(e.op_id), when(e.created_at)],
        el("span", { class: e.delta >= 0 ? "delta plus" : "delta minus", text: signed(e.delta) }),
      ),
    ),
  );
  return section(t("a_ledger"), items.length ? list : empty(t("history_empty")));
}

function paymentList(items, reload) {
  const rows = items.map((p) => {
    const refundable = p.status === "succeeded";
    const row = listRow(
      { "data-payment": p.payment_id, "data-status": p.status },
      [
        el("span", { class: "ledger-label", text: `${money(p.amount, p.currency)} · ${credits(p.credits)}` }),
        sub(`${p.method} · ${p.product} · ${label("a_pay_", p.status)}`),
        when(p.created_at),
      ],
      refundable
        ? el("button", {
            type: "button",
            class: "btn secondary small-btn refund",
            text: t("a_refund"),
            onclick: () =>
              confirmInline(row, t("a_refund_q", { money: money(p.amount, p.currency), n: credits(p.credits) }), t("a_refund_do"), async (reason) => {
                const done = await api.admin.refund(p.payment_id, reason);
                toast(done.applied ? t("a_refunded", { n: formatNumber(done.credits), balance: formatNumber(done.balance) }) : t("a_refund_repeat"), "ok");
                reload();
              }),
          })
        : pill(label("a_pay_", p.status), p.status === "refunded" ? "bad" : ""),
    );
    return row;
  });
  return section(t("a_payments"), rows.length ? el("ul", { class: "ledger", id: "user-payments" }, rows) : empty(t("a_none")));
}

function jobList(items) {
  const rows = items.map((j) =>
    listRow(
      { "data-job": j.job_id, "data-status": j.status },
      [
        el("span", { class: "ledger-label", text: `${label("mode_", j.mode)} · ${j.tier}` }),
        sub([j.provider, j.error_code].filter(Boolean).join(" · ") || j.job_id),
        when(j.created_at),
      ],
      el("span", { class: "side" }, pill(label("a_job_", j.status), j.status === "failed" ? "bad" : ""), sub(credits(j.price))),
    ),
  );
  return section(t("a_jobs"), rows.length ? el("ul", { class: "ledger", id: "user-jobs" }, rows) : empty(t("a_none")));
}

// -- promo codes ------------------------------------------------------------------------------

function promos(ctx) {
  const list = el("div", { id: "promo-admin-list" });
  const refresh = () => loadInto(list, api.admin.promos, (data) => promoRows(data.items, refresh), ctx);
  refresh();
  return el("div", { class: "stack" }, promoForm(refresh), section(t("a_promo_list"), list));
}

function promoForm(refresh) {
  const code = el("input", { type: "text", id: "promo-new-code", required: true, minlength: "3", maxlength: "32", autocapitalize: "characters", autocomplete: "off" });
  const amount = el("input", { type: "number", id: "promo-new-credits", required: true, min: "1", step: "1" });
  const uses = el("input", { type: "number", id: "promo-new-uses", required: true, min: "1", step: "1", value: "100" });
  const expires = el("input", { type: "date", id: "promo-new-expires" });
  const reason = el("input", { type: "text", id: "promo-new-reason", maxlength: "500" });
  const button = el("button", { class: "btn", type: "submit", id: "promo-new-submit", text: t("a_promo_create") });
  const result = note("promo-new-note");
  const form = el(
    "form",
    { class: "form-grid", id: "promo-new" },
    field(t("a_promo_code"), code),
    field(t("a_credits"), amount),
    field(t("a_promo_uses"), uses),
    field(t("a_promo_expires"), expires, t("a_optional")),
    field(t("a_reason"), reason, t("a_optional")),
    button,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { code: code.value.trim(), credits: Number(amount.value), max_uses: Number(uses.value), reason: reason.value.trim() };
      if (expires.value) body.expires_at = `${expires.value}T23:59:59Z`;
      try {
        const made = await api.admin.createPromo(body);
        say(result, t("a_promo_made", { code: made.code, n: credits(made.credits) }), "ok");
        form.reset();
        refresh();
      } catch (error) {
        say(result, message(error), "bad");
      }
    });
  });
  return section(t("a_promo_new"), form, result);
}

function promoRows(items, refresh) {
  if (!items.length) return empty(t("a_promo_empty"));
  return el(
    "ul",
    { class: "ledger" },
    items.map((p) => {
      const expired = p.expires_at && new Date(p.expires_at) < new Date();
      const state = p.disabled ? pill(t("a_promo_off"), "bad") : expired ? pill(t("a_promo_expired"), "bad") : pill(t("a_promo_on"), "ok");
      const row = listRow(
        { "data-code": p.code, "data-used": String(p.used), "data-disabled": String(p.disabled) },
        [
          el("span", { class: "ledger-label" }, el("strong", { text: p.code }), " ", state),
          sub(`${credits(p.credits)} · ${t("a_promo_used", { used: formatNumber(p.used), max: formatNumber(p.max_uses) })}`),
          p.expires_at ? sub(t("a_promo_until", { date: formatDate(p.expires_at) })) : null,
          el("div", { class: "meter", "aria-hidden": "true" }, el("span", { style: `width:${Math.min(100, (100 * p.used) / Math.max(1, p.max_uses))}%` })),
        ],
        p.disabled
          ? null
          : el("button", {
              type: "button",
              class: "btn secondary small-btn disable",
              text: t("a_promo_disable"),
              onclick: () =>
                confirmInline(row, t("a_promo_disable_q", { code: p.code }), t("a_promo_disable"), async (reason) => {
                  await api.admin.disablePromo(p.code, reason);
                  toast(t("a_promo_disabled", { code: p.code }), "ok");
                  refresh();
                }),
            }),
      );
      return row;
    }),
  );
}

// -- settings ---------------------------------------------------------------------------------

function settingsSection(ctx) {
  const box = el("div", { id: "setting-box" });
  const key = SETTING_KEYS.includes(ctx.adminSetting) ? ctx.adminSetting : "prices";
  const pick = (name) => {
    ctx.adminSetting = name;
    loadInto(box, () => api.admin.setting(name), (data) => settingEditor(data), ctx);
  };
  pick(key);
  return section(
    t("a_settings_title"),
    choice("setting-key", SETTING_KEYS.map((name) => [name, t(`a_set_${name}`)]), key, pick),
    box,
  );
}

function settingEditor(data) {
  const text = (value) => (value == null ? "" : JSON.stringify(value, null, 2));
  let stored = data.value;
  const status = el("p", { class: "muted small", id: "setting-status" });
  const showStatus = (view) =>
    (status.textContent = view.value == null ? t("a_set_default") : t("a_set_updated", { date: formatDate(view.updated_at) }));
  showStatus(data);
  const area = el("textarea", { id: "setting-value", rows: "10", spellcheck: "false", autocapitalize: "off", placeholder: SETTING_EXAMPLES[data.key] || "{}" });
  area.value = text(stored);
  const reason = el("input", { type: "text", id: "setting-reason", maxlength: "500", placeholder: t("a_reason_hint"), "aria-label": t("a_reason") });
  const result = note("setting-note");
  const save = el("button", { class: "btn", type: "submit", id: "setting-save", text: t("a_save") });
  const revert = el("button", { class: "btn secondary", type: "button", id: "setting-revert", text: t("a_revert") });
  revert.addEventListener("click", () => {
    area.value = text(stored);
    say(result, "");
  });
  const form = el(
    "form",
    { class: "setting-form", id: "setting-form" },
    status,
    area,
    el("small", { class: "muted", text: t(`a_set_${data.key}_hint`) }),
    reason,
    el("div", { class: "row" }, revert, save),
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let value;
    try {
      value = JSON.parse(area.value);
    } catch (error) {
      return say(result, t("a_set_not_json", { error: error.message }), "bad");
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) return say(result, t("a_set_not_object"), "bad");
    busy(save, async () => {
      try {
        const view = await api.admin.saveSetting(data.key, value, reason.value.trim());
        stored = view.value;
        area.value = text(stored);
        reason.value = "";
        showStatus(view);
        say(result, t("saved"), "ok");
      } catch (error) {
        say(result, message(error), "bad");
      }
    });
  });
  return form;
}

// -- broadcasts -------------------------------------------------------------------------------

// Telegram's HTML subset, rebuilt node by node (never innerHTML): other tags keep their text.
const TAGS = {
  B: "b", STRONG: "b", I: "i", EM: "i", U: "u", INS: "u", S: "s", STRIKE: "s", DEL: "s",
  CODE: "code", PRE: "pre", A: "a", BLOCKQUOTE: "blockquote", "TG-SPOILER": "span", SPAN: "span",
};

function telegramHtml(html) {
  const walk = (node) =>
    [...node.childNodes].map((child) => {
      if (child.nodeType === Node.TEXT_NODE) return document.createTextNode(child.textContent);
      if (child.nodeType !== Node.ELEMENT_NODE) return null;
      const tag = TAGS[child.tagName];
      const spoiler = child.tagName === "TG-SPOILER" || child.classList.contains("tg-spoiler");
      if (!tag || (tag === "span" && !spoiler)) return walk(child);
      const out = el(tag, { class: spoiler ? "spoiler" : null }, walk(child));
      const href = child.getAttribute("href") || "";
      if (tag === "a" && /^(https?|tg):/i.test(href)) Object.assign(out, { href, target: "_blank", rel: "noopener" });
      return out;
    });
  return walk(new DOMParser().parseFromString(html, "text/html").body).flat(Infinity);
}

function broadcasts(ctx) {
  const draft = el("div", { id: "bc-draft" });
  const show = (view, content) => {
    ctx.adminBroadcast = view;
    if (content) ctx.adminDraft = content; // the text for the preview (the view has the counts)
    draft.replaceChildren(broadcastCard(ctx, view));
  };
  const page = el("div", { class: "stack" }, broadcastForm(show), draft);
  if (ctx.adminBroadcast) show(ctx.adminBroadcast);
  return page;
}

function broadcastForm(show) {
  const text = el("textarea", { id: "bc-text", rows: "5", required: true, maxlength: "4096", placeholder: t("a_bc_text_hint") });
  const photo = el("input", { type: "url", id: "bc-photo", maxlength: "2048", placeholder: "https://…" });
  const buttonText = el("input", { type: "text", id: "bc-button-text", maxlength: "64" });
  const buttonUrl = el("input", { type: "url", id: "bc-button-url", maxlength: "2048", placeholder: "https://…" });
  const active = el("input", { type: "number", id: "bc-active", min: "1", max: "3650", step: "1" });
  const segment = { language: "", paying: "" };
  const submit = el("button", { class: "btn", type: "submit", id: "bc-create", text: t("a_bc_create") });
  const result = note("bc-note");
  const form = el(
    "form",
    { class: "form-grid", id: "bc-form", novalidate: true },
    field(t("a_bc_text"), text, t("a_bc_html")),
    field(t("a_bc_photo"), photo, t("a_optional")),
    field(t("a_bc_button"), buttonText, t("a_optional")),
    field(t("a_bc_button_url"), buttonUrl, t("a_optional")),
    field(t("language"), choice("bc-language", [["", t("a_bc_all")], ["ru", "Русский"], ["en", "English"]], "", (v) => (segment.language = v))),
    field(t("a_bc_paying"), choice("bc-paying", [["", t("a_bc_all")], ["yes", t("a_bc_payers")], ["no", t("a_bc_never_paid")]], "", (v) => (segment.paying = v))),
    field(t("a_bc_active"), active, t("a_optional")),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { text: text.value.trim(), segment: {} };
    if (!body.text) return say(result, t("a_bc_text_needed"), "bad");
    if (photo.value.trim()) body.photo = photo.value.trim();
    if (buttonText.value.trim() || buttonUrl.value.trim()) body.button = { text: buttonText.value.trim(), url: buttonUrl.value.trim() };
    if (segment.language) body.segment.language = segment.language;
    if (segment.paying) body.segment.paying = segment.paying === "yes";
    if (active.value) body.segment.active_days = Number(active.value);
    busy(submit, async () => {
      try {
        show(await api.admin.createBroadcast(body), body);
        say(result, "");
      } catch (error) {
        say(result, message(error), "bad");
      }
    });
  });
  return section(t("a_bc_new"), form, result);
}

function broadcastCard(ctx, view) {
  const card = section(t("a_bc_draft"));
  card.id = "bc-card";
  const body = ctx.adminDraft;
  if (body) {
    card.append(
      el(
        "div",
        { class: "bubble", id: "bc-preview" },
        body.photo ? el("div", { class: "bubble-photo", text: `🖼 ${body.photo}` }) : null,
        el("div", { class: "bubble-text" }, telegramHtml(body.text)),
        body.button ? el("div", { class: "bubble-button", text: body.button.text }) : null,
      ),
    );
  }
  const progress = el("div", { class: "progress", id: "bc-progress" });
  const start = el("button", { class: "btn wide", type: "button", id: "bc-start", text: t("a_bc_start") });
  const result = note("bc-start-note");
  const render = (v) => {
    ctx.adminBroadcast = v;
    progress.dataset.status = v.status;
    const counted = v.sent + v.failed + v.blocked + v.skipped;
    const total = Math.max(v.selected, counted);
    const done = v.status === "done" || v.status === "cancelled";
    const draft = v.status === "draft";
    const share = total ? (100 * counted) / total : done ? 100 : 0;
    const meter = el(
      "div",
      { class: "meter big", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(counted) },
      el("span", { style: `width:${share}%` }),
    );
    const counts = el(
      "dl",
      { class: "facts counts" },
      fact(t("a_bc_selected"), formatNumber(v.selected) + (v.selection_done || done ? "" : "…")),
      el("div", { "data-count": "sent" }, el("dt", { text: t("a_bc_sent") }), el("dd", { text: formatNumber(v.sent) })),
      el("div", { "data-count": "failed" }, el("dt", { text: t("a_bc_failed") }), el("dd", { text: formatNumber(v.failed) })),
      fact(t("a_bc_blocked"), formatNumber(v.blocked)),
      fact(t("a_bc_skipped"), formatNumber(v.skipped)),
    );
    const moment = v.finished_at ? t("a_bc_finished", { date: formatDate(v.finished_at) }) : v.started_at ? t("a_bc_started", { date: formatDate(v.started_at) }) : t("a_bc_not_started");
    const head = el("div", { class: "progress-head" }, pill(label("a_bc_status_", v.status), v.status === "done" ? "ok" : v.status === "cancelled" ? "bad" : ""), sub(v.segment));
    progress.replaceChildren(...(draft ? [head, sub(moment)] : [head, meter, counts, sub(moment)]));
    start.hidden = v.status !== "draft";
  };
  // Poll while sending and while this card is on screen.
  const poll = async () => {
    if (!card.isConnected) return;
    try {
      const v = await api.admin.broadcast(view.broadcast_id);
      if (!card.isConnected) return;
      render(v);
      if (v.status !== "sending") return;
    } catch (error) {
      if (!card.isConnected) return;
      say(result, message(error), "bad");
    }
    setTimeout(poll, POLL_MS);
  };
  start.addEventListener("click", () =>
    busy(start, async () => {
      try {
        render(await api.admin.startBroadcast(view.broadcast_id));
        say(result, "");
        setTimeout(poll, POLL_MS);
      } catch (error) {
        say(result, message(error), "bad");
      }
    }),
  );
  render(view);
  card.append(progress, start, result);
  if (view.status === "sending") setTimeout(poll, 0);
  return card;
}

// -- the admin log and the ledger audit -------------------------------------------------------

const compact = (value) => (value == null ? "—" : JSON.stringify(value));

function logSection(ctx) {
  return paged(ctx, {
    title: t("a_log"),
    list: el("ul", { class: "ledger log", id: "admin-log" }),
    moreId: "log-more",
    fetch: api.admin.log,
    row: (item) => logRow(ctx, item),
    emptyText: t("a_log_empty"),
  });
}

function logRow(ctx, item) {
  const user = /^user:(\d+)$/.exec(item.target);
  const target = user
    ? el("button", { type: "button", class: "linkish", text: item.target, onclick: () => ctx.openUser(user[1]) })
    : el("span", { text: item.target });
  return el(
    "li",
    { "data-action": item.action },
    el(
      "div",
      { class: "ledger-what" },
      el("span", { class: "ledger-label" }, el("strong", { text: label("a_act_", item.action) }), " · ", target),
      item.reason ? el("span", { class: "log-reason", text: `«${item.reason}»` }) : null,
      el("code", { class: "json", text: `${compact(item.before)} → ${compact(item.after)}` }),
      sub(`${formatDate(item.at)} · admin ${item.admin_id}`),
    ),
  );
}

function auditSection(ctx) {
  const result = el("div", { id: "audit-result" });
  const run = el("button", {
    class: "btn",
    type: "button",
    id: "audit-run",
    text: t("a_audit_run"),
    onclick: () =>
      busy(run, async () => {
        result.replaceChildren(spinner());
        try {
          result.replaceChildren(auditResult(ctx, await api.admin.audit()));
        } catch (error) {
          result.replaceChildren(errorState(error, null, ctx));
        }
      }),
  });
  return section(t("a_audit_title"), el("p", { class: "muted", text: t("a_audit_hint") }), run, result);
}

function auditResult(ctx, data) {
  if (data.ok) return el("p", { class: "audit-ok", "data-ok": "true" }, el("span", { class: "dot", "aria-hidden": "true" }), t("a_audit_ok"));
  return el(
    "div",
    { "data-ok": "false" },
    el("p", { class: "form-note bad", text: t("a_audit_bad", { n: data.mismatches.length }) }),
    el(
      "ul",
      { class: "ledger" },
      data.mismatches.map((m) =>
        listRow(
          { "data-user": String(m.user_id) },
          [
            el("button", { type: "button", class: "linkish", text: `user:${m.user_id}`, onclick: () => ctx.openUser(m.user_id) }),
            sub(t("a_audit_row", { balance: m.balance ?? "—", sum: m.ledger_sum })),
          ],
          null,
        ),
      ),
    ),
  );
}

// -- stats ------------------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value != null) node.setAttribute(key, value);
  for (const child of children.flat()) if (child != null) node.append(child);
  return node;
}

// A small chart of daily series: stacked bars and lines, one slot per day (no library).
// series: [{name, values, kind: "bar" | "line", tone: 1..4}]
function chart(id, title, days, series, format = formatNumber) {
  const width = Math.max(days.length, 1) * 10;
  const height = 100;
  const bars = series.filter((s) => s.kind === "bar");
  const stacked = days.map((_, i) => bars.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const top = Math.max(1, ...stacked, ...series.filter((s) => s.kind === "line").flatMap((s) => s.values));
  const y = (v) => height - (v / top) * (height - 2);
  const parts = [svg("line", { x1: 0, x2: width, y1: y(top / 2), y2: y(top / 2), class: "grid" })];
  days.forEach((day, i) => {
    let base = 0;
    for (const s of bars) {
      const v = s.values[i] || 0;
      if (v > 0) {
        const box = { x: i * 10 + 1.5, y: y(base + v), width: 7, height: y(base) - y(base + v), class: `tone${s.tone}` };
        parts.push(svg("rect", box, svg("title", {}, `${formatDay(day)} · ${s.name}: ${format(v)}`)));
      }
      base += v;
    }
  });
  for (const s of series.filter((x) => x.kind === "line")) {
    const points = s.values.map((v, i) => `${i * 10 + 5},${y(v || 0)}`).join(" ");
    parts.push(svg("polyline", { points, class: `line tone${s.tone}`, "vector-effect": "non-scaling-stroke" }));
  }
  const total = (s) => s.values.reduce((a, b) => a + (b || 0), 0);
  return el(
    "figure",
    { class: "chart", id },
    el(
      "figcaption",
      {},
      el("strong", { text: title }),
      el("span", { class: "legend" }, series.map((s) => el("span", { class: `key tone${s.tone}${s.kind === "line" ? " is-line" : ""}`, text: `${s.name} ${format(total(s))}` }))),
    ),
    el(
      "div",
      { class: "chart-plot" },
      el("span", { class: "chart-top", text: format(top) }),
      svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": title }, parts),
    ),
    el("div", { class: "chart-axis" }, el("span", { text: formatDay(days[0]) }), el("span", { text: formatDay(days[days.length - 1]) })),
  );
}

// The window's days, oldest first (UTC), for stats without a `daily` series.
function windowDays(n) {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Array.from({ length: n }, (_, i) => new Date(today - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

function kpi(id, title, value, hint) {
  return el("div", { class: "kpi", id }, el("span", { class: "muted small", text: title }), el("strong", { text: value }), hint ? el("small", { class: "muted", text: hint }) : null);
}

const sum = (items, pick) => items.reduce((total, item) => total + (Number(pick(item)) || 0), 0);

function statsSection(ctx) {
  const box = el("div", { class: "stack", id: "admin-stats" });
  loadInto(box, api.admin.stats, (data) => statsView(ctx, data), ctx);
  return box;
}

function statsView(ctx, data) {
  const daily = Array.isArray(data.daily) && data.daily.length ? data.daily : null;
  const stars = sum(data.revenue.filter((r) => r.currency === "XTR"), (r) => r.amount);
  const kopecks = sum(data.revenue.filter((r) => r.currency === "RUB"), (r) => r.amount);
  const refunds = sum(data.revenue, (r) => r.refunds);
  const jobs = sum(data.generations, (g) => g.jobs);
  const failed = sum(data.generations, (g) => g.failed);
  const numbers = el(
    "div",
    { class: "kpis" },
    kpi("kpi-users", t("a_st_users"), formatNumber(data.users_total), t("a_st_users_hint")),
    daily ? kpi("kpi-new", t("a_st_new"), formatNumber(sum(daily, (d) => d.new_users))) : null,
    daily ? kpi("kpi-active", t("a_st_active"), formatNumber(daily[daily.length - 1].active_users), t("a_st_today")) : null,
    kpi("kpi-stars", t("a_st_stars"), money(stars, "XTR"), refunds ? t("a_st_refunds", { n: formatNumber(refunds) }) : null),
    kpi("kpi-rub", t("a_st_rub"), money(kopecks, "RUB")),
    kpi("kpi-payments", t("a_st_payments"), formatNumber(sum(data.revenue, (r) => r.payments))),
    kpi("kpi-jobs", t("a_st_jobs"), formatNumber(jobs), failed ? t("a_st_failed_n", { n: formatNumber(failed) }) : null),
    kpi("kpi-chat", t("a_st_chat"), formatNumber(data.chat.messages), `$${data.chat.cost_usd.toFixed(2)}`),
  );
  const charts = [];
  if (daily) {
    const days = daily.map((d) => d.day);
    const col = (name) => daily.map((d) => Number(d[name]) || 0);
    charts.push(
      chart("chart-generations", t("a_st_ch_jobs"), days, [
        { name: t("a_st_ok"), values: daily.map((d) => Math.max(0, (d.generations || 0) - (d.failed || 0))), kind: "bar", tone: 1 },
        { name: t("a_st_failed"), values: col("failed"), kind: "bar", tone: 3 },
      ]),
      chart("chart-users", t("a_st_ch_users"), days, [
        { name: t("a_st_new"), values: col("new_users"), kind: "bar", tone: 2 },
        { name: t("a_st_active"), values: col("active_users"), kind: "line", tone: 1 },
      ]),
      chart("chart-stars", t("a_st_stars"), days, [{ name: "⭐", values: col("stars"), kind: "bar", tone: 4 }]),
      chart("chart-rub", t("a_st_rub"), days, [{ name: "₽", values: col("rub_kopecks").map((k) => k / 100), kind: "bar", tone: 2 }], (v) => formatNumber(Math.round(v))),
      chart("chart-credits", t("a_st_ch_credits"), days, [
        { name: t("a_st_sold"), values: col("credits_sold"), kind: "line", tone: 2 },
        { name: t("a_st_spent"), values: col("credits_spent"), kind: "line", tone: 1 },
      ]),
      chart("chart-chat", t("a_st_chat"), days, [{ name: t("a_st_messages"), values: col("chat_messages"), kind: "bar", tone: 1 }]),
    );
  } else {
    const days = windowDays(data.days || 30);
    const per = (currency) => days.map((day) => sum(data.revenue.filter((r) => r.day === day && r.currency === currency), (r) => r.amount));
    charts.push(
      chart("chart-stars", t("a_st_stars"), days, [{ name: "⭐", values: per("XTR"), kind: "bar", tone: 4 }]),
      chart("chart-rub", t("a_st_rub"), days, [{ name: "₽", values: per("RUB").map((k) => k / 100), kind: "bar", tone: 2 }], (v) => formatNumber(Math.round(v))),
    );
  }
  const byMode = data.generations.length
    ? el(
        "table",
        { class: "table", id: "stats-modes" },
        el("thead", {}, el("tr", {}, [t("a_st_mode"), t("a_st_jobs"), t("a_st_failed"), t("a_credits")].map((h) => el("th", { text: h })))),
        el(
          "tbody",
          {},
          data.generations.map((g) =>
            el(
              "tr",
              {},
              el("td", {}, el("span", { text: label("mode_", g.mode) }), g.provider ? sub(` ${g.provider}`) : null),
              el("td", { text: formatNumber(g.jobs) }),
              el("td", { class: g.failed ? "bad" : "", text: formatNumber(g.failed) }),
              el("td", { text: formatNumber(g.credits) }),
            ),
          ),
        ),
      )
    : empty(t("a_none"));
  const failedJobs = el("div", { id: "failed-jobs" });
  loadInto(failedJobs, () => api.admin.failedJobs().catch((error) => (error.status === 404 ? null : Promise.reject(error))), (list) => failedRows(ctx, list), ctx);
  const chat = data.chat;
  return [
    section(t("a_st_title", { n: data.days }), numbers),
    section(null, el("div", { class: "charts" }, charts)),
    section(t("a_st_modes"), byMode, sub(t("a_st_chat_line", { tin: formatNumber(chat.tokens_in), tout: formatNumber(chat.tokens_out), cost: chat.cost_usd.toFixed(2) }))),
    section(t("a_st_failed_jobs"), failedJobs),
  ];
}

function failedRows(ctx, data) {
  if (!data) return sub(t("a_st_failed_na"));
  if (!data.items.length) return empty(t("a_none"));
  return el(
    "ul",
    { class: "ledger", id: "failed-list" },
    data.items.map((j) =>
      listRow(
        { "data-job": j.job_id },
        [
          el("span", { class: "ledger-label", text: [label("mode_", j.mode), j.tier, j.provider].filter(Boolean).join(" · ") }),
          sub(j.error_code || "—"),
          when(j.failed_at || j.created_at),
        ],
        el("button", { type: "button", class: "linkish", text: `user:${j.user_id}`, onclick: () => ctx.openUser(j.user_id) }),
      ),
    ),
  );
}

const RENDER = {
  stats: statsSection,
  users,
  promo: promos,
  settings: settingsSection,
  broadcasts,
  log: logSection,
  audit: auditSection,
};
