// A minimal stand-in for Telegram's telegram-web-app.js, for the local stack and the browser
// tests only (production loads https://telegram.org/js/telegram-web-app.js). It reads the launch
// parameters from the URL hash the way the real script does (tgWebAppData, tgWebAppVersion,
// tgWebAppPlatform, tgWebAppThemeParams), talks to a parent frame (the local web chat) with the
// same {eventType, eventData} messages Telegram's web clients use, and pays invoices through the
// local stack's front door (POST /local/webapp/invoice: the Bot API stand-in's pre-checkout and
// successful_payment, as when Pay is pressed in the web chat).
(function () {
  "use strict";
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const initData = hash.get("tgWebAppData") || "";
  const fields = new URLSearchParams(initData);
  const initDataUnsafe = {};
  for (const [key, value] of fields) {
    try {
      initDataUnsafe[key] = key === "user" || key === "receiver" || key === "chat" ? JSON.parse(value) : value;
    } catch {
      initDataUnsafe[key] = value;
    }
  }
  if (initDataUnsafe.auth_date) initDataUnsafe.auth_date = Number(initDataUnsafe.auth_date);
  let themeParams = {};
  try {
    themeParams = JSON.parse(hash.get("tgWebAppThemeParams") || "{}");
  } catch {
    themeParams = {};
  }
  const handlers = {};
  const calls = [];
  const framed = window.parent !== window;

  function postEvent(eventType, eventData) {
    calls.push({ eventType, eventData });
    if (framed) window.parent.postMessage(JSON.stringify({ eventType, eventData: eventData || {} }), "*");
  }

  function emit(name, ...args) {
    for (const handler of handlers[name] || []) {
      try {
        handler.apply(WebApp, args);
      } catch (error) {
        console.error(error);
      }
    }
  }

  function schemeOf(params) {
    const color = /^#([0-9a-f]{6})$/i.exec(params.bg_color || "");
    if (!color) return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    const n = parseInt(color[1], 16);
    const luma = 0.2126 * (n >> 16) + 0.7152 * ((n >> 8) & 255) + 0.0722 * (n & 255);
    return luma < 120 ? "dark" : "light";
  }

  function applyTheme(params) {
    themeParams = Object.assign({}, params || {});
    WebApp.themeParams = themeParams;
    WebApp.colorScheme = schemeOf(themeParams);
    const root = document.documentElement.style;
    for (const name of [...root]) if (name.startsWith("--tg-theme-")) root.removeProperty(name);
    for (const [key, value] of Object.entries(themeParams)) root.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
    root.setProperty("--tg-color-scheme", WebApp.colorScheme);
  }

  function versionAtLeast(version) {
    const mine = String(WebApp.version).split(".").map(Number);
    const wanted = String(version).split(".").map(Number);
    for (let i = 0; i < Math.max(mine.length, wanted.length); i++) {
      const a = mine[i] || 0;
      const b = wanted[i] || 0;
      if (a !== b) return a > b;
    }
    return true;
  }

  function button(kind) {
    const self = {
      isVisible: false,
      text: "",
      show() { self.isVisible = true; postEvent(`web_app_setup_${kind}`, { is_visible: true }); return self; },
      hide() { self.isVisible = false; postEvent(`web_app_setup_${kind}`, { is_visible: false }); return self; },
      setText(text) { self.text = String(text); return self; },
      setParams(params) { Object.assign(self, params || {}); return self; },
      onClick(fn) { WebApp.onEvent(`${kind === "back_button" ? "back" : "main"}ButtonClicked`, fn); return self; },
      offClick(fn) { WebApp.offEvent(`${kind === "back_button" ? "back" : "main"}ButtonClicked`, fn); return self; },
      enable() { return self; },
      disable() { return self; },
      showProgress() { return self; },
      hideProgress() { return self; },
    };
    return self;
  }

  const WebApp = {
    initData,
    initDataUnsafe,
    version: hash.get("tgWebAppVersion") || "8.0",
    platform: hash.get("tgWebAppPlatform") || "web",
    themeParams,
    colorScheme: "light",
    isExpanded: false,
    viewportHeight: window.innerHeight,
    viewportStableHeight: window.innerHeight,
    headerColor: "bg_color",
    backgroundColor: "bg_color",
    BackButton: null,
    MainButton: null,
    HapticFeedback: { impactOccurred() {}, notificationOccurred() {}, selectionChanged() {} },
    isVersionAtLeast: versionAtLeast,
    ready() { postEvent("web_app_ready"); },
    expand() { WebApp.isExpanded = true; postEvent("web_app_expand"); },
    close() { postEvent("web_app_close"); },
    onEvent(name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
    offEvent(name, fn) { handlers[name] = (handlers[name] || []).filter((h) => h !== fn); },
    sendData(data) { postEvent("web_app_data_send", { data: String(data) }); },
    setHeaderColor(color) { WebApp.headerColor = color; },
    setBackgroundColor(color) { WebApp.backgroundColor = color; },
    openLink(url, options) {
      postEvent("web_app_open_link", { url: String(url), try_instant_view: Boolean(options && options.try_instant_view) });
      if (!framed) window.open(String(url), "_blank", "noopener");
    },
    openTelegramLink(url) {
      const parsed = new URL(String(url));
      postEvent("web_app_open_tg_link", { path_full: parsed.pathname + parsed.search });
    },
    downloadFile(params, callback) {
      postEvent("web_app_request_file_download", { url: params.url, file_name: params.file_name });
      if (!framed) window.open(params.url, "_blank", "noopener");
      if (callback) setTimeout(() => callback(true), 0);
    },
    showAlert(message, callback) { window.alert(message); if (callback) callback(); },
    showConfirm(message, callback) { const ok = window.confirm(message); if (callback) callback(ok); },
    openInvoice(url, callback) {
      const slug = String(url).split("$").pop();
      postEvent("web_app_open_invoice", { slug });
      const user = initDataUnsafe.user || {};
      const done = (status) => {
        emit("invoiceClosed", { url: String(url), status });
        if (callback) callback(status);
      };
      fetch("/local/webapp/invoice", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: user.id, link: String(url) }),
      })
        .then((response) => response.json().catch(() => ({})))
        .then((body) => done(body.status || "failed"), () => done("failed"));
    },
  };
  WebApp.BackButton = button("back_button");
  WebApp.MainButton = button("main_button");
  WebApp.SecondaryButton = button("secondary_button");
  WebApp.__calls = calls; // what the app asked of "Telegram", for the tests

  applyTheme(themeParams);
  window.addEventListener("message", (event) => {
    let message;
    try {
      message = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    const data = message.eventData || {};
    if (message.eventType === "theme_changed") {
      applyTheme(data.theme_params);
      emit("themeChanged");
    } else if (message.eventType === "back_button_pressed") {
      emit("backButtonClicked");
    } else if (message.eventType === "invoice_closed") {
      emit("invoiceClosed", { url: data.slug, status: data.status });
    }
  });
  window.Telegram = Object.assign(window.Telegram || {}, { WebApp });
})();
