// The cabinet's screens. Each view(ctx) returns a node and fills it as its data arrives.
import * as api from "./api.js";
import { $, el, spinner, toast } from "./dom.js";
import { credits, formatDate, formatNumber, language, t } from "./i18n.js";

// -- shared bits ------------------------------------------------------------------------------

export function errorState(error, retry, ctx) {
  const box = el("div", { class: "state error", role: "alert" });
  if (error.code === "not_registered") {
    box.append(el("p", { text: t("not_registered") }));
    if (ctx && ctx.bot) box.append(el("button", { class: "btn", text: t("open_bot"), onclick: () => ctx.openBot("") }));
    return box;
  }
  if (error.code === "unauthorized") return el("div", { class: "state error", role: "alert" }, el("p", { text: t("unauthorized") }));
  box.append(
    el("p", { class: "state-title", text: t("error") }),
    el("p", { class: "muted", text: error.code === "offline" ? t("offline") : error.message }),
  );
  if (retry) box.append(el("button", { class: "btn", text: t("retry"), onclick: retry }));
  return box;
}

export function section(title, ...children) {
  return el("section", { class: "card" }, title ? el("h2", { text: title }) : null, ...children);
}

export function loadInto(box, load, render, ctx) {
  const run = () => {
    box.replaceChildren(spinner());
    load().then(
      (data) => box.replaceChildren(...[render(data)].flat()),
      (error) => box.replaceChildren(errorState(error, run, ctx)),
    );
  };
  run();
  return box;
}

export function signed(delta) {
  return `${delta > 0 ? "+" : delta < 0 ? "−" : ""}${formatNumber(Math.abs(delta))}`;
}

// -- balance, subscription, buying, promo -----------------------------------------------------

function subscriptionLine(sub) {
  if (!sub) return el("p", { class: "muted", text: t("sub_none") });
  if (!sub.active) return el("p", { class: "muted", text: t("sub_expired", { date: formatDate(sub.until, false) }) });
  return el(
    "p",
    { class: "sub-active" },
    el("span", { class: "dot", "aria-hidden": "true" }),
    `${t("sub_active", { date: formatDate(sub.until, false) })} · ${t(sub.renews ? "sub_renews" : "sub_ends")}`,
  );
}

export function home(ctx) {
  const me = ctx.me;
  const balance = section(
    null,
    el("div", { class: "balance-label", text: t("balance") }),
    el("div", { class: "balance", id: "balance", "data-balance": String(me.balance), text: credits(me.balance) }),
    subscriptionLine(me.subscription),
  );
  balance.classList.add("hero");
  const shop = loadInto(el("div", { class: "packs" }), api.packs, (data) => packList(ctx, data), ctx);
  return el("div", { class: "stack" }, balance, section(t("buy"), shop), promoForm(ctx));
}

function packList(ctx, data) {
  const rows = [];
  if (data.offer) rows.push(packRow(ctx, data.offer, data.rubles, t("offer", { date: formatDate(data.offer.until) })));
  for (const pack of data.packs) rows.push(packRow(ctx, pack, data.rubles));
  return rows;
}

function packRow(ctx, pack, rubles, badge) {
  const buttons = el(
    "div",
    { class: "pay" },
    el("button", {
      class: "btn",
      "data-product": pack.product_id,
      "data-method": "stars",
      text: t("pay_stars", { n: formatNumber(pack.stars) }),
      onclick: (event) => ctx.buy(pack, "stars", event.currentTarget),
    }),
    rubles && pack.rubles
      ? el("button", {
          class: "btn secondary",
          "data-method": "rubles",
          text: t("pay_rubles", { n: formatNumber(pack.rubles) }),
          onclick: (event) => ctx.buy(pack, "rubles", event.currentTarget),
        })
      : null,
  );
  return el(
    "div",
    { class: badge ? "pack offer" : "pack" },
    el("div", { class: "pack-name" }, el("strong", { text: credits(pack.credits) }), badge ? el("small", { text: badge }) : null),
    buttons,
  );
}

function promoForm(ctx) {
  const input = el("input", {
    id: "promo-code",
    name: "code",
    placeholder: t("promo_placeholder"),
    autocomplete: "off",
    autocapitalize: "characters",
    maxlength: "64",
    required: true,
  });
  const note = el("p", { class: "form-note", id: "promo-note", role: "status" });
  const button = el("button", { class: "btn", type: "submit", text: t("promo_apply") });
  const form = el("form", { class: "inline-form", id: "promo-form" }, input, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    if (!code) return;
    button.disabled = true;
    note.className = "form-note";
    try {
      const result = await api.redeem(code);
      note.textContent = t("promo_done", { n: credits(result.credits) });
      note.classList.add("ok");
      input.value = "";
      ctx.setBalance(result.balance);
    } catch (error) {
      note.textContent = error.code === "offline" ? t("offline") : error.message;
      note.classList.add("bad");
    } finally {
      button.disabled = false;
    }
  });
  return section(t("promo"), form, note);
}

// -- ledger -----------------------------------------------------------------------------------

// A list read page by page ("More" fetches the next): fetch(cursor) -> {items, next_cursor}.
export function paged(ctx, { title, list, moreId, fetch, row, emptyText }) {
  const more = el("button", { class: "btn secondary wide", id: moreId, text: t("more"), hidden: true });
  const status = el("div");
  let cursor = null;
  const load = async () => {
    more.hidden = true;
    status.replaceChildren(spinner());
    try {
      const page = await fetch(cursor);
      status.replaceChildren();
      for (const item of page.items) list.append(row(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!list.children.length && !cursor) status.replaceChildren(el("div", { class: "state empty", text: emptyText }));
    } catch (error) {
      status.replaceChildren(errorState(error, load, ctx));
    }
  };
  more.addEventListener("click", load);
  load();
  return section(title, list, status, more);
}

export function history(ctx) {
  return paged(ctx, {
    title: t("history"),
    list: el("ul", { class: "ledger", id: "ledger" }),
    moreId: "ledger-more",
    fetch: api.ledger,
    row: ledgerRow,
    emptyText: t("history_empty"),
  });
}

function ledgerRow(item) {
  return el(
    "li",
    { "data-op": item.op_id },
    el(
      "div",
      { class: "ledger-what" },
      el("span", { class: "ledger-label", text: item.label }),
      item.note ? el("span", { class: "muted small", text: item.note }) : null,
      el("time", { class: "muted small", datetime: item.created_at, text: formatDate(item.created_at) }),
    ),
    el("span", { class: item.delta >= 0 ? "delta plus" : "delta minus", text: signed(item.delta) }),
  );
}

// -- gallery ----------------------------------------------------------------------------------

const isVideo = (item) => (item.mime || "").startsWith("video/") || item.mode === "video";

export function gallery(ctx) {
  return paged(ctx, {
    title: t("gallery"),
    list: el("div", { class: "gallery", id: "gallery" }),
    moreId: "gallery-more",
    fetch: api.generations,
    row: (item) => tile(ctx, item),
    emptyText: t("gallery_empty"),
  });
}

function tile(ctx, item) {
  let media;
  if (!item.url) {
    const state = item.status === "succeeded" ? t("no_file") : t(`status_${item.status}`);
    media = el("div", { class: "tile-empty", text: state });
  } else if (isVideo(item)) {
    media = el("video", { src: item.url, muted: true, playsInline: true, preload: "metadata" });
  } else {
    media = el("img", { src: item.url, alt: item.prompt, loading: "lazy", decoding: "async" });
  }
  return el(
    "button",
    { class: "tile", type: "button", "data-job": item.job_id, "data-kind": isVideo(item) ? "video" : "image", onclick: () => openViewer(ctx, item) },
    media,
    isVideo(item) ? el("span", { class: "badge", text: "▶" }) : null,
    el("span", { class: "tile-caption", text: item.prompt || t(`mode_${item.mode}`) }),
  );
}

function openViewer(ctx, item) {
  const viewer = $("viewer");
  const close = () => {
    viewer.hidden = true;
    viewer.replaceChildren();
    document.removeEventListener("keydown", onKey);
    ctx.tg.BackButton?.offClick?.(close);
    ctx.tg.BackButton?.hide?.();
  };
  const onKey = (event) => event.key === "Escape" && close();
  let media = el("div", { class: "tile-empty", text: item.url ? "" : t("no_file") });
  if (item.url && isVideo(item)) media = el("video", { src: item.url, controls: true, autoplay: true, playsInline: true, loop: true, id: "viewer-media" });
  else if (item.url) media = el("img", { src: item.url, alt: item.prompt, id: "viewer-media" });
  viewer.replaceChildren(
    el(
      "div",
      { class: "viewer-box" },
      el("button", { class: "viewer-close", type: "button", "aria-label": t("close"), text: "×", onclick: close }),
      media,
      el(
        "div",
        { class: "viewer-info" },
        el("p", { class: "muted small", text: `${t(`mode_${item.mode}`)} · ${formatDate(item.created_at)}` }),
        item.prompt ? el("p", { class: "prompt", text: item.prompt }) : null,
        el(
          "div",
          { class: "row" },
          item.url ? el("button", { class: "btn secondary", id: "download", text: t("download"), onclick: () => ctx.download(item) }) : null,
          el("button", { class: "btn", id: "again", text: t("again"), onclick: () => ctx.again(item) }),
        ),
      ),
    ),
  );
  viewer.onclick = (event) => event.target === viewer && close();
  viewer.hidden = false;
  document.addEventListener("keydown", onKey);
  ctx.tg.BackButton?.onClick?.(close);
  ctx.tg.BackButton?.show?.();
}

// -- friends ----------------------------------------------------------------------------------

export function friends(ctx) {
  const ref = ctx.me.referral;
  const link = el("input", { class: "link", id: "ref-link", value: ref.link, readonly: true, "aria-label": "link" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(ref.link);
    } catch {
      link.select();
      document.execCommand?.("copy");
    }
    toast(t("copied"));
  };
  const share = () => {
    const url = `https://t.me/share/url?url=${encodeURIComponent(ref.link)}&text=${encodeURIComponent(t("share_text"))}`;
    ctx.tg.openTelegramLink(url);
  };
  return section(
    t("friends"),
    el("p", { class: "muted", text: t("friends_hint") }),
    el(
      "div",
      { class: "stats" },
      el("div", {}, el("strong", { id: "ref-invited", text: formatNumber(ref.invited) }), el("span", { class: "muted small", text: t("invited") })),
      el("div", {}, el("strong", { id: "ref-earned", text: credits(ref.earned) }), el("span", { class: "muted small", text: t("earned") })),
    ),
    link,
    el(
      "div",
      { class: "row" },
      el("button", { class: "btn secondary", id: "ref-copy", text: t("copy"), onclick: copy }),
      el("button", { class: "btn", id: "ref-share", text: t("share"), onclick: share }),
    ),
  );
}

// -- settings ---------------------------------------------------------------------------------

export function choice(name, options, value, onchange) {
  return el(
    "div",
    { class: "segmented", role: "radiogroup" },
    options.map(([optionValue, label]) =>
      el(
        "label",
        {},
        el("input", { type: "radio", name, value: optionValue, checked: optionValue === value, onchange: () => onchange(optionValue) }),
        el("span", { text: label }),
      ),
    ),
  );
}

export function settings(ctx) {
  const me = ctx.me;
  const save = (change) => ctx.saveSettings(change);
  const toggles = ["offers", "bonus", "subscription"].map((kind) =>
    el(
      "label",
      { class: "switch-row" },
      el("span", { text: t(`notice_${kind}`) }),
      el("input", {
        type: "checkbox",
        class: "switch",
        name: `notice-${kind}`,
        checked: Boolean(me.notices[kind]),
        onchange: (event) => save({ notices: { [kind]: event.currentTarget.checked } }),
      }),
    ),
  );
  return el(
    "div",
    { class: "stack" },
    section(t("language"), choice("language", [["ru", "Русский"], ["en", "English"]], language(), (value) => save({ language: value }))),
    section(t("notices"), ...toggles),
    section(
      t("chat_language"),
      choice(
        "chat-language",
        [["", t("chat_same")], ["ru", "Русский"], ["en", "English"]],
        me.chat_language || "",
        (value) => save({ chat_language: value || null }),
      ),
    ),
  );
}
