// The cabinet (a Telegram Mini App): boot, theme, language, tabs, and the actions views call.
import * as api from "./api.js";
import { $, el, spinner, toast } from "./dom.js";
import { pickLanguage, setLanguage, t, credits } from "./i18n.js";
import * as views from "./views.js";

const TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js";
const TABS = ["home", "history", "gallery", "friends", "settings"];
// CABINET_URL#admin (the bot's /admin button) opens the operator's section first.
const ctx = { tg: null, me: null, bot: "", tab: /^#admin\b/.test(location.hash) ? "admin" : "home" };
const tabs = () => (ctx.me && ctx.me.is_admin ? [...TABS, "admin"] : TABS);

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

// Telegram's theme -> CSS variables (the real script sets the same ones; the stub may not).
function applyTheme() {
  const tg = ctx.tg;
  const root = document.documentElement;
  for (const name of [...root.style]) if (name.startsWith("--tg-theme-")) root.style.removeProperty(name);
  for (const [key, value] of Object.entries(tg.themeParams || {})) {
    root.style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
  }
  root.dataset.scheme = tg.colorScheme === "dark" ? "dark" : "light";
}

function renderTabs() {
  const nav = $("tabs");
  nav.replaceChildren(
    ...tabs().map((name) =>
      el("button", {
        type: "button",
        role: "tab",
        class: "tab",
        id: `tab-${name}`,
        "aria-selected": String(name === ctx.tab),
        text: t(`tab_${name}`),
        onclick: () => show(name),
      }),
    ),
  );
  nav.hidden = false;
}

// The operator's section is loaded only by operators (admin.js is not on the first load).
function adminView() {
  const box = el("div", { class: "admin" }, spinner());
  import("./admin.js").then(
    (module) => box.isConnected && box.replaceChildren(module.admin(ctx)),
    (error) => box.replaceChildren(views.errorState(new api.ApiError(0, "offline", String(error)), () => show("admin"), ctx)),
  );
  return box;
}

function show(name) {
  if (!tabs().includes(name)) name = "home";
  ctx.tab = name;
  renderTabs();
  const main = $("main");
  main.dataset.view = name;
  main.replaceChildren(name === "admin" ? adminView() : views[name](ctx));
  main.focus?.({ preventScroll: true });
  window.scrollTo(0, 0);
}

function fail(error, retry) {
  $("tabs").hidden = true;
  $("main").replaceChildren(views.errorState(error, retry, ctx));
}

ctx.setBalance = (balance) => {
  ctx.me.balance = balance;
  const node = $("balance");
  if (node) {
    node.textContent = credits(balance);
    node.dataset.balance = String(balance);
  }
};

ctx.openBot = (start) => {
  if (!ctx.bot) return;
  ctx.tg.openTelegramLink(`https://t.me/${ctx.bot}${start ? `?start=${start}` : ""}`);
};

ctx.again = (item) => {
  // The prompt goes to the clipboard (a deep link can't carry it); the bot opens at once.
  if (item.prompt && navigator.clipboard) {
    navigator.clipboard.writeText(item.prompt).then(() => toast(t("prompt_copied")), () => {});
  }
  ctx.openBot(`again_${String(item.job_id).replace(/[^A-Za-z0-9_-]/g, "").slice(0, 58)}`);
};

ctx.download = (item) => {
  const tg = ctx.tg;
  const ext = (item.mime || "").split("/")[1] || "bin";
  if (tg.downloadFile && tg.isVersionAtLeast?.("8.0")) tg.downloadFile({ url: item.url, file_name: `${item.job_id}.${ext}` });
  else tg.openLink(item.url);
};

ctx.saveSettings = async (change) => {
  try {
    const me = await api.saveSettings(change);
    const relabel = me.language !== ctx.me.language;
    ctx.me = me;
    setLanguage(me.language);
    if (relabel) show(ctx.tab);
    toast(t("saved"));
  } catch (error) {
    toast(error.code === "offline" ? t("offline") : error.message, "bad");
    show(ctx.tab);
  }
};

// After Telegram says "paid", the bot credits the pack when its successful_payment arrives.
async function awaitBalance(before) {
  for (let i = 0; i < 8; i++) {
    await new Promise((resolve) => setTimeout(resolve, 700 + i * 300));
    try {
      const me = await api.me();
      if (me.balance !== before) {
        ctx.me = me;
        ctx.setBalance(me.balance);
        toast(t("paid_done"), "ok");
        return;
      }
    } catch {
      /* try again */
    }
  }
}

ctx.buy = async (pack, method, button) => {
  button.disabled = true;
  try {
    const result = await api.buy(pack.product_id, method);
    if (result.invoice_link) {
      const before = ctx.me.balance;
      ctx.tg.openInvoice(result.invoice_link, (status) => {
        if (status === "paid") {
          toast(t("paid"), "ok");
          awaitBalance(before);
        } else if (status === "cancelled") toast(t("pay_cancelled"));
        else if (status === "failed") toast(t("pay_failed"), "bad");
        else if (status === "pending") toast(t("pay_pending"));
      });
    } else if (result.confirmation_url) {
      ctx.tg.openLink(result.confirmation_url);
    }
  } catch (error) {
    toast(error.code === "offline" ? t("offline") : error.message, "bad");
  } finally {
    button.disabled = false;
  }
};

async function loadMe() {
  $("main").replaceChildren(spinner());
  try {
    ctx.me = await api.me();
  } catch (error) {
    fail(error, loadMe);
    return;
  }
  setLanguage(ctx.me.language);
  if (!ctx.bot) ctx.bot = (/t\.me\/([A-Za-z0-9_]+)/.exec(ctx.me.referral.link) || [])[1] || "";
  show(ctx.tab);
}

async function boot() {
  let config = {};
  try {
    const response = await fetch("config.json", { cache: "no-cache" });
    if (response.ok) config = await response.json();
  } catch {
    /* no config: the API on this origin */
  }
  try {
    await loadScript(config.telegram_js || TELEGRAM_JS);
  } catch (error) {
    fail(new api.ApiError(0, "offline", ""), boot);
    return;
  }
  const tg = (ctx.tg = window.Telegram.WebApp);
  ctx.bot = config.bot_username || "";
  setLanguage(pickLanguage(tg.initDataUnsafe?.user?.language_code));
  applyTheme();
  tg.onEvent("themeChanged", applyTheme);
  tg.ready();
  tg.expand();
  if (tg.isVersionAtLeast?.("6.1")) {
    tg.setHeaderColor("secondary_bg_color"); // Telegram's header blends with the page
    tg.setBackgroundColor("secondary_bg_color");
  }
  if (!tg.initData) {
    fail(new api.ApiError(401, "unauthorized", ""));
    return;
  }
  api.configure(config.api_url || "/", tg.initData);
  await loadMe();
}

boot();
