// The local web chat: talks to the Bot API stand-in's /webchat/api/ endpoints.
// Everything the bot sends is rendered with DOM nodes and textContent from the message's
// text + entities, never by injecting the bot's HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  bot: null,
  users: [],
  userId: null,
  version: -1,
  lastToast: null,
  poll: null, // AbortController of the running long poll
  actionTimer: null,
  renderedKey: "",
  pinned: true, // the message list shows its newest message (see stickToBottom)
  draftTimer: null,
};

const ACTION_LABELS = {
  typing: "typing…",
  upload_photo: "sending photo…",
  upload_video: "sending video…",
  record_video: "recording video…",
  upload_document: "sending file…",
  upload_voice: "sending voice…",
  record_voice: "recording voice…",
  choose_sticker: "choosing a sticker…",
  find_location: "finding location…",
};

async function api(path, options = {}) {
  const response = await fetch(`/webchat/api/${path}`, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function postJson(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function initials(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

// -- toasts -------------------------------------------------------------------------------

function toast(text, alert = false) {
  const node = el("div", { class: alert ? "toast alert" : "toast", text });
  if (alert) node.append(el("button", { text: "OK", onclick: () => node.remove() }));
  $("toasts").append(node);
  if (!alert) setTimeout(() => node.remove(), 3500);
}

// -- users --------------------------------------------------------------------------------

function renderUsers() {
  const list = $("users");
  list.replaceChildren(
    ...state.users.map((user) =>
      el(
        "li",
        {
          class: user.id === state.userId ? "active" : "",
          dataset: { userId: String(user.id) },
          onclick: () => selectUser(user.id),
        },
        el("div", { class: "avatar", text: initials(user.first_name) }),
        el("span", { text: user.first_name }),
        el("span", { class: "lang", text: user.language_code }),
      ),
    ),
  );
  const current = state.users.find((u) => u.id === state.userId);
  $("chat-as").textContent = current ? `you are ${current.first_name} (${current.id}, ${current.language_code})` : "";
}

function selectUser(userId) {
  if (state.userId === userId) return;
  state.userId = userId;
  state.version = -1;
  state.lastToast = null;
  state.renderedKey = "";
  state.pinned = true;
  localStorage.setItem("webchat.user", String(userId));
  renderUsers();
  $("messages").replaceChildren();
  if (state.poll) state.poll.abort();
  if (webapp.userId != null) openWebApp(); // the cabinet follows the chat's user
}

$("new-user").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const user = await postJson("users", {
      first_name: $("new-user-name").value,
      language_code: $("new-user-lang").value,
    });
    state.users.push(user);
    $("new-user-name").value = "";
    selectUser(user.id);
  } catch (error) {
    toast(`Could not add the user: ${error.message}`);
  }
});

// -- entities -> DOM ------------------------------------------------------------------------

function safeUrl(url) {
  return /^(https?:|tg:|mailto:)/i.test(url || "") ? url : null;
}

// A URL as written in text ("t.me/bot", "www.example.org", "https://...") -> an href, or null.
function hrefOf(written) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(written)) return safeUrl(written);
  return `https://${written}`;
}

// A link the way Telegram shows one: opens in a new tab, never with access to this page.
// The text is textContent and the href an attribute, so nothing in either becomes markup.
function linkNode(href) {
  const link = el("a", { href, target: "_blank", rel: "noopener noreferrer" });
  if (/^https:\/\/t\.me\/\$/.test(href)) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      pay({ link: href });
    });
  }
  return link;
}

// Plain URLs in text, as Telegram clients find them where the message has no entity:
// a scheme URL, or a www./t.me/telegram.me address; trailing punctuation is not part of it.
const URL_IN_TEXT = /\b(?:(?:https?|tg):\/\/|www\.|(?:t|telegram)\.me\/)[^\s]+/giu;
const TRAILING = /[.,;:!?'"»)\]}]+$/u;

function appendText(parent, text, linkify) {
  if (!linkify) {
    parent.append(text);
    return;
  }
  let pos = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    let written = match[0];
    const trailing = written.match(TRAILING);
    if (trailing && !(trailing[0].startsWith(")") && written.includes("("))) {
      written = written.slice(0, written.length - trailing[0].length);
    }
    const href = written && hrefOf(written);
    if (!href) continue;
    if (match.index > pos) parent.append(text.slice(pos, match.index));
    const link = linkNode(href);
    link.textContent = written;
    parent.append(link);
    pos = match.index + written.length;
  }
  if (pos < text.length) parent.append(text.slice(pos));
}

function entityNode(entity, text) {
  switch (entity.type) {
    case "bold": return el("strong");
    case "italic": return el("em");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "code": return el("code");
    case "pre": return el("pre", entity.language ? { "data-language": entity.language } : {});
    case "blockquote":
    case "expandable_blockquote": return el("blockquote");
    case "spoiler": {
      const node = el("span", { class: "spoiler", title: "spoiler" });
      node.addEventListener("click", () => node.classList.add("shown"));
      return node;
    }
    case "text_link":
    case "url": {
      const href = entity.type === "url" ? hrefOf(text.trim()) : safeUrl(entity.url);
      return href ? linkNode(href) : el("span");
    }
    case "email": return el("a", { href: `mailto:${text}` });
    case "bot_command": {
      const node = el("span", { class: "command" });
      node.addEventListener("click", () => sendText(text));
      return node;
    }
    default: return el("span", { class: entity.type });
  }
}

// Where text inside an entity is never turned into a link (it is one, or it is code).
const NO_LINKS = new Set(["code", "pre", "text_link", "url", "email", "bot_command", "mention", "text_mention"]);

// Entities are nested by offset/length (UTF-16 units, the same as JavaScript string indexes).
function renderEntities(parent, text, entities, start = 0, end = text.length, linkify = true) {
  const sorted = [...(entities || [])]
    .filter((e) => e.length > 0 && e.offset < end && e.offset + e.length > start)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  let pos = start;
  let index = 0;
  while (index < sorted.length) {
    const entity = sorted[index];
    const from = Math.max(entity.offset, pos);
    const to = Math.min(entity.offset + entity.length, end);
    const inner = [];
    index += 1;
    while (index < sorted.length && sorted[index].offset < to) inner.push(sorted[index++]);
    if (from > pos) appendText(parent, text.slice(pos, from), linkify);
    if (to > from) {
      const node = entityNode(entity, text.slice(from, to));
      const innerLinks = linkify && !NO_LINKS.has(entity.type) && node.tagName !== "A";
      renderEntities(node, text, inner.map((e) => clip(e, from, to)), from, to, innerLinks);
      parent.append(node);
      pos = to;
    }
  }
  if (pos < end) appendText(parent, text.slice(pos, end), linkify);
}

function clip(entity, from, to) {
  const start = Math.max(entity.offset, from);
  const stop = Math.min(entity.offset + entity.length, to);
  return { ...entity, offset: start, length: Math.max(0, stop - start) };
}

// -- messages ---------------------------------------------------------------------------------

function humanSize(bytes) {
  if (!bytes && bytes !== 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function renderMedia(media) {
  if (media.url && media.kind === "photo") {
    const img = el("img", { src: media.url, alt: "photo", loading: "lazy" });
    img.addEventListener("click", () => window.open(media.url, "_blank", "noopener"));
    img.addEventListener("load", () => stickToBottom(false));
    return el("div", { class: "media" }, img);
  }
  if (media.url && media.kind === "voice") {
    const label = media.duration ? `voice · ${media.duration} s` : "voice";
    return el("div", { class: "media voice" }, el("audio", { src: media.url, controls: "", preload: "none" }), el("span", { class: "voice-meta", text: label }));
  }
  if (media.url && (media.kind === "video" || media.kind === "animation")) {
    const props = { src: media.url, controls: "", preload: "metadata", playsinline: "" };
    if (media.kind === "animation") Object.assign(props, { autoplay: "", loop: "", muted: "" });
    return el("div", { class: "media" }, el("video", props));
  }
  if (!media.url) {
    return el("div", { class: "link-media", text: `${media.kind}: ${media.link || "(not stored)"}` });
  }
  return el(
    "a",
    { class: "doc", href: media.url, download: media.file_name || "file", target: "_blank" },
    el("div", { class: "doc-icon", text: (media.file_name || "").split(".").pop().slice(0, 4).toUpperCase() || "FILE" }),
    el(
      "div",
      {},
      el("div", { class: "doc-name", text: media.file_name || media.kind }),
      el("div", { class: "doc-size", text: [humanSize(media.size), media.mime_type].filter(Boolean).join(" · ") }),
    ),
  );
}

function renderInvoice(message) {
  const invoice = message.invoice;
  const amount =
    invoice.currency === "XTR"
      ? `${invoice.total_amount} ★`
      : `${(invoice.total_amount / 100).toFixed(2)} ${invoice.currency}`;
  const card = el(
    "div",
    { class: "invoice" },
    el("div", { class: "invoice-title", text: invoice.title }),
    el("div", { class: "invoice-desc", text: invoice.description }),
    el("div", { class: "invoice-amount", text: `Invoice · ${amount}` }),
  );
  const hasPayButton = (message.inline_keyboard || []).some((row) => row.some((b) => b.pay));
  if (!hasPayButton) {
    card.append(el("button", { class: "pay-button", text: `Pay ${amount}`, onclick: () => pay({ message_id: message.id }) }));
  }
  return card;
}

function buttonKind(button) {
  if (button.url) return "↗";
  if (button.web_app) return "web app";
  if (button.copy_text) return "copy";
  return "";
}

function pressInline(message, button, node) {
  if (button.callback_data !== undefined) {
    node.classList.add("pending");
    setTimeout(() => node.classList.remove("pending"), 1500);
    postJson("callback", { user_id: state.userId, message_id: message.id, data: button.callback_data }).catch(
      (error) => toast(`Button failed: ${error.message}`),
    );
  } else if (button.pay) {
    pay({ message_id: message.id });
  } else if (button.url) {
    if (/^https:\/\/t\.me\/\$/.test(button.url)) pay({ link: button.url });
    else if (safeUrl(button.url)) window.open(button.url, "_blank", "noopener");
  } else if (button.copy_text) {
    navigator.clipboard?.writeText(button.copy_text.text).catch(() => {});
    toast("Copied to clipboard");
  } else {
    toast("This kind of button is not simulated in the local chat");
  }
}

function renderInlineKeyboard(message) {
  return el(
    "div",
    { class: "inline-kb" },
    ...message.inline_keyboard.map((row) =>
      el(
        "div",
        { class: "kb-row" },
        ...row.map((button) => {
          const node = el("button", { type: "button", title: button.text });
          node.append(button.text);
          const kind = buttonKind(button);
          if (kind) node.append(el("span", { class: "kind", text: kind }));
          node.addEventListener("click", () => pressInline(message, button, node));
          return node;
        }),
      ),
    ),
  );
}

// Times on the bot's clock (its TIMEZONE, from the stand-in), not the browser's, and in the
// bot's own format: HH:MM on a bubble, dd.mm HH:MM as in /balance when hovered.
const clock = { zone: "Europe/Moscow", time: null, full: null };

function setZone(zone) {
  const make = (options) => {
    try {
      return new Intl.DateTimeFormat("en-GB", { ...options, hourCycle: "h23", timeZone: zone });
    } catch {
      return new Intl.DateTimeFormat("en-GB", { ...options, hourCycle: "h23", timeZone: "Europe/Moscow" });
    }
  };
  clock.zone = zone;
  clock.time = make({ hour: "2-digit", minute: "2-digit" });
  clock.full = make({ day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" });
}
setZone(clock.zone);

function parts(format, date) {
  return Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
}

function timeOf(seconds) {
  const p = parts(clock.time, new Date((seconds || 0) * 1000));
  return `${p.hour}:${p.minute}`;
}

function fullTimeOf(seconds) {
  const p = parts(clock.full, new Date((seconds || 0) * 1000));
  return `${p.day}.${p.month}.${p.year} ${p.hour}:${p.minute} (${clock.zone})`;
}

function renderMessage(message) {
  if (message.payment) {
    const p = message.payment;
    const amount = p.currency === "XTR" ? `${p.total_amount} ★` : `${p.total_amount / 100} ${p.currency}`;
    const extra = p.subscription_expiration_date ? " (subscription)" : "";
    return el("div", { class: "service", dataset: { messageId: String(message.id) }, text: `You paid ${amount}${extra}` });
  }
  const bubble = el("div", { class: "bubble" });
  if (message.reply_to) bubble.append(el("div", { class: "reply-quote", text: message.reply_to.text || "…" }));
  if (message.media) {
    bubble.classList.add("has-media");
    bubble.append(renderMedia(message.media));
  }
  if (message.invoice) bubble.append(renderInvoice(message));
  if (message.text) {
    const text = el("div", { class: "text" });
    renderEntities(text, message.text, message.entities);
    bubble.append(text);
  }
  bubble.append(
    el("span", {
      class: "meta",
      text: `${message.edited ? "edited " : ""}${timeOf(message.date)}`,
      title: fullTimeOf(message.date),
    }),
  );
  const row = el("div", { class: message.out ? "row out" : "row in", dataset: { messageId: String(message.id) } }, bubble);
  if (message.inline_keyboard && message.inline_keyboard.length) row.append(renderInlineKeyboard(message));
  return row;
}

// A draft (sendMessageDraft): the answer the bot is still writing, redrawn on every update and
// gone when the bot sends the real message (or 30 s after its last update, as in Telegram).
function renderDraft(draft) {
  const bubble = el("div", { class: "bubble draft" });
  const text = el("div", { class: "text" });
  if (draft.text) renderEntities(text, draft.text, draft.entities);
  else text.append(el("span", { class: "thinking", text: "Thinking…" }));
  bubble.append(text, el("span", { class: "meta", text: "typing…" }));
  return el("div", { class: "row in draft-row", dataset: { draftId: String(draft.draft_id) } }, bubble);
}

function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

// Whether the list shows its end. Kept as state (not measured when a message arrives) because
// the list's height changes under it: the reply keyboard appears after a reload, the composer
// grows, a photo loads. While pinned, every such change scrolls to the end again.
function stickToBottom(force) {
  if (force || state.pinned) {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
    state.pinned = true;
  }
}

$("messages").addEventListener("scroll", () => {
  state.pinned = nearBottom();
});
new ResizeObserver(() => stickToBottom(false)).observe($("messages"));

function renderChat(chat) {
  const drafts = chat.drafts || [];
  const key = JSON.stringify([chat.messages, chat.reply_keyboard, chat.commands, drafts.map((d) => [d.draft_id, d.text, d.entities])]);
  if (key !== state.renderedKey) {
    const wasAtBottom = state.pinned || state.renderedKey === "";
    state.renderedKey = key;
    const nodes = chat.messages.map(renderMessage);
    nodes.push(...drafts.map(renderDraft));
    if (!nodes.length) nodes.push(el("div", { class: "empty", text: "No messages here yet. Say /start" }));
    // The keyboard first: it takes its height from the list, and the scroll below must see that.
    renderReplyKeyboard(chat.reply_keyboard);
    renderCommands(chat.commands || []);
    $("messages").replaceChildren(...nodes);
    if (wasAtBottom) stickToBottom(true);
  }
  renderAction(chat.action, chat.action_ms);
  clearTimeout(state.draftTimer);
  if (drafts.length) {
    // A draft nobody updates expires (30 s, as in Telegram): the page drops it then too.
    const soonest = Math.min(...drafts.map((d) => d.ms_left));
    state.draftTimer = setTimeout(() => {
      for (const draft of drafts.filter((d) => d.ms_left <= soonest)) {
        document.querySelector(`.draft-row[data-draft-id="${draft.draft_id}"]`)?.remove();
      }
    }, soonest + 100);
  }
  for (const item of chat.toasts || []) {
    if (state.lastToast !== null && item.id > state.lastToast) toast(item.text, item.show_alert);
  }
  const ids = (chat.toasts || []).map((t) => t.id);
  state.lastToast = Math.max(state.lastToast ?? 0, 0, ...ids);
}

function renderAction(action, ms) {
  const status = $("bot-status");
  clearTimeout(state.actionTimer);
  if (action && ms > 0) {
    status.textContent = ACTION_LABELS[action] || action.replaceAll("_", " ");
    status.classList.add("active");
    state.actionTimer = setTimeout(() => renderAction(null, 0), ms);
  } else {
    status.textContent = "bot";
    status.classList.remove("active");
  }
}

function renderReplyKeyboard(markup) {
  const box = $("reply-keyboard");
  $("text").placeholder = (markup && markup.input_field_placeholder) || "Message";
  if (!markup || !markup.keyboard) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  box.replaceChildren(
    ...markup.keyboard.map((row) =>
      el(
        "div",
        { class: "kb-row" },
        ...row.map((button) => {
          const label = typeof button === "string" ? button : button.text;
          return el("button", { type: "button", text: label, onclick: () => sendText(label) });
        }),
      ),
    ),
  );
}

function renderCommands(commands) {
  $("commands-button").hidden = !commands.length;
  $("commands").replaceChildren(
    ...commands.map((c) =>
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            $("commands").hidden = true;
            sendText(`/${c.command}`);
          },
        },
        el("b", { text: `/${c.command}` }),
        el("span", { text: c.description }),
      ),
    ),
  );
}

// -- long poll ----------------------------------------------------------------------------------

async function pollLoop() {
  for (;;) {
    const userId = state.userId;
    if (userId == null) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      continue;
    }
    state.poll = new AbortController();
    try {
      const chat = await api(`chat?user_id=${userId}&since=${state.version}&wait=25`, { signal: state.poll.signal });
      if (userId !== state.userId) continue;
      state.version = chat.version;
      renderChat(chat);
    } catch (error) {
      if (error.name !== "AbortError") await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// -- sending -----------------------------------------------------------------------------------

async function sendText(text) {
  if (!text.trim() || state.userId == null) return;
  try {
    await postJson("send", { user_id: state.userId, text });
  } catch (error) {
    toast(`Not sent: ${error.message}`);
  }
}

async function pay(target) {
  try {
    await postJson("pay", { user_id: state.userId, ...target });
    toast("Payment sent: waiting for the bot to confirm…");
  } catch (error) {
    toast(`Payment failed: ${error.message}`);
  }
}

async function sendFile(file, kind) {
  const form = new FormData();
  form.append("user_id", String(state.userId));
  form.append("file", file, file.name);
  form.append("as_document", kind === "document" ? "1" : "0");
  const caption = $("text").value.trim();
  if (caption) form.append("caption", caption);
  try {
    await api("photo", { method: "POST", body: form });
    $("text").value = "";
  } catch (error) {
    toast(`Upload failed: ${error.message}`);
  }
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  autosize();
  await sendText(text);
  input.focus();
});

$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

function autosize() {
  const input = $("text");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 140)}px`;
}
$("text").addEventListener("input", autosize);

let attachKind = "photo";
$("attach-button").addEventListener("click", () => {
  $("attach-menu").hidden = !$("attach-menu").hidden;
});
for (const button of $("attach-menu").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    attachKind = button.dataset.kind;
    $("attach-menu").hidden = true;
    $("file-input").accept = attachKind === "photo" ? "image/*" : "";
    $("file-input").click();
  });
}
$("file-input").addEventListener("change", () => {
  const file = $("file-input").files[0];
  if (file) sendFile(file, attachKind);
  $("file-input").value = "";
});
$("commands-button").addEventListener("click", () => {
  $("commands").hidden = !$("commands").hidden;
});

// -- the menu button: the cabinet (a Mini App) in a side panel --------------------------------
// The stand-in signs initData for the chat's user; the panel speaks the {eventType, eventData}
// messages Telegram's web clients exchange with a Mini App's frame.

const webapp = { scheme: window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light", userId: null };

async function openWebApp() {
  if (state.userId == null) return;
  try {
    const launch = await api(`webapp?user_id=${state.userId}&scheme=${webapp.scheme}`);
    webapp.userId = state.userId;
    $("webapp-frame").src = launch.url;
    $("webapp-panel").hidden = false;
    document.querySelector(".app").classList.add("with-webapp");
  } catch (error) {
    toast(`The cabinet can't open: ${error.message}`);
  }
}

function closeWebApp() {
  $("webapp-panel").hidden = true;
  $("webapp-frame").removeAttribute("src");
  document.querySelector(".app").classList.remove("with-webapp");
  webapp.userId = null;
}

async function switchWebAppTheme() {
  webapp.scheme = webapp.scheme === "dark" ? "light" : "dark";
  if (webapp.userId == null) return;
  const launch = await api(`webapp?user_id=${webapp.userId}&scheme=${webapp.scheme}`);
  const params = JSON.parse(new URLSearchParams(new URL(launch.url).hash.slice(1)).get("tgWebAppThemeParams"));
  const message = { eventType: "theme_changed", eventData: { theme_params: params } };
  $("webapp-frame").contentWindow.postMessage(JSON.stringify(message), "*");
}

window.addEventListener("message", (event) => {
  if (event.source !== $("webapp-frame").contentWindow) return;
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  const data = message.eventData || {};
  if (message.eventType === "web_app_close") closeWebApp();
  else if (message.eventType === "web_app_open_link" || message.eventType === "web_app_request_file_download") {
    window.open(data.url, "_blank", "noopener");
  } else if (message.eventType === "web_app_open_tg_link") {
    const link = new URL(data.path_full || "/", "https://t.me");
    const start = link.searchParams.get("start");
    if (state.bot && link.pathname.slice(1).toLowerCase() === state.bot.username.toLowerCase()) {
      // a link to this bot: Telegram opens the chat and sends /start <parameter>
      closeWebApp();
      if (start != null) sendText(`/start ${start}`);
    } else {
      toast(`Telegram would open t.me${data.path_full}`);
    }
  }
});

$("menu-button").addEventListener("click", openWebApp);
$("webapp-close").addEventListener("click", closeWebApp);
$("webapp-theme").addEventListener("click", () => switchWebAppTheme().catch((error) => toast(error.message)));

// -- start --------------------------------------------------------------------------------------

// `genbot dev` starts the stand-in (and this page) before the front door that serves the
// cabinet: a page opened in between asks again for a minute, so the button comes without a reload
async function watchForWebApp() {
  for (let tries = 0; tries < 30; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const session = await api("session").catch(() => null);
    if (session && session.webapp) {
      $("menu-button").hidden = false;
      return;
    }
  }
}

async function start() {
  const session = await api("session");
  state.bot = session.bot;
  if (session.timezone) setZone(session.timezone);
  state.users = session.users;
  $("menu-button").hidden = !session.webapp;
  if (!session.webapp) watchForWebApp();
  $("bot-name").textContent = `${session.bot.first_name} @${session.bot.username}`;
  $("bot-avatar").textContent = initials(session.bot.first_name);
  document.title = `${session.bot.first_name} — local web chat`;
  const saved = Number(localStorage.getItem("webchat.user"));
  const initial = state.users.find((u) => u.id === saved) || state.users[0];
  if (initial) selectUser(initial.id);
  renderUsers();
  pollLoop();
}

start().catch((error) => toast(`The stand-in is not answering: ${error.message}`, true));
