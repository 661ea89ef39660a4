// The cabinet's texts in Russian and English; t(key, vars) in the current language.
const TEXTS = {
  ru: {
    tab_home: "Баланс", tab_history: "История", tab_gallery: "Галерея", tab_friends: "Друзья", tab_settings: "Настройки",
    balance: "Баланс", credits: ["кредит", "кредита", "кредитов"],
    sub_active: "Подписка активна до {date}", sub_renews: "продлится автоматически", sub_ends: "не продлевается",
    sub_expired: "Подписка закончилась {date}", sub_none: "Подписки нет",
    buy: "Купить кредиты", offer: "Спецпредложение до {date}", pay_stars: "{n} ⭐", pay_rubles: "{n} ₽",
    paid: "Оплачено: баланс обновится через несколько секунд", paid_done: "Оплата прошла, баланс обновлён",
    pay_cancelled: "Оплата отменена", pay_failed: "Оплата не прошла", pay_pending: "Ждём подтверждения оплаты…",
    promo: "Промокод", promo_placeholder: "Введите код", promo_apply: "Применить", promo_done: "+{n}: промокод применён",
    history: "История операций", history_empty: "Операций пока нет", more: "Показать ещё",
    gallery: "Ваши генерации", gallery_empty: "Здесь появятся ваши картинки и видео. Создайте первую в боте!",
    again: "Повторить в боте", download: "Скачать", close: "Закрыть", prompt_copied: "Запрос скопирован",
    status_queued: "в очереди", status_running: "создаётся…", status_failed: "не удалось", status_refunded: "возврат",
    no_file: "Файл больше недоступен",
    mode_image: "Картинка", mode_edit: "Редактирование", mode_video: "Видео",
    friends: "Пригласите друзей", friends_hint: "За каждого друга, который начнёт пользоваться ботом, вы получите кредиты.",
    invited: "Приглашено", earned: "Заработано", copy: "Копировать", share: "Поделиться", copied: "Ссылка скопирована",
    share_text: "Создаю картинки и видео с помощью ИИ — попробуй!",
    settings: "Настройки", language: "Язык", notices: "Уведомления",
    notice_offers: "Спецпредложения", notice_bonus: "Напоминание о бонусе", notice_subscription: "Подписка",
    chat_language: "Язык ответов ассистента", chat_same: "Как в вопросе", saved: "Сохранено",
    loading: "Загрузка…", error: "Не удалось загрузить", retry: "Повторить",
    offline: "Нет связи с сервером. Проверьте интернет и попробуйте ещё раз.",
    not_registered: "Сначала запустите бота: нажмите «Старт» в чате.", open_bot: "Открыть бота",
    unauthorized: "Откройте кабинет из бота в Telegram.",
  },
  en: {
    tab_home: "Balance", tab_history: "History", tab_gallery: "Gallery", tab_friends: "Friends", tab_settings: "Settings",
    balance: "Balance", credits: ["credit", "credits"],
    sub_active: "Subscription active until {date}", sub_renews: "renews automatically", sub_ends: "won't renew",
    sub_expired: "Subscription ended {date}", sub_none: "No subscription",
    buy: "Buy credits", offer: "Special offer until {date}", pay_stars: "{n} ⭐", pay_rubles: "{n} ₽",
    paid: "Paid: your balance updates in a few seconds", paid_done: "Payment received, balance updated",
    pay_cancelled: "Payment cancelled", pay_failed: "Payment failed", pay_pending: "Waiting for the payment…",
    promo: "Promo code", promo_placeholder: "Enter a code", promo_apply: "Apply", promo_done: "+{n}: promo code applied",
    history: "History", history_empty: "No operations yet", more: "Load more",
    gallery: "Your generations", gallery_empty: "Your pictures and videos will appear here. Make the first one in the bot!",
    again: "Generate again", download: "Download", close: "Close", prompt_copied: "Prompt copied",
    status_queued: "queued", status_running: "in progress…", status_failed: "failed", status_refunded: "refunded",
    no_file: "The file is no longer available",
    mode_image: "Picture", mode_edit: "Photo edit", mode_video: "Video",
    friends: "Invite friends", friends_hint: "You get credits for every friend who starts using the bot.",
    invited: "Invited", earned: "Earned", copy: "Copy", share: "Share", copied: "Link copied",
    share_text: "I make pictures and videos with AI: try it!",
    settings: "Settings", language: "Language", notices: "Notifications",
    notice_offers: "Special offers", notice_bonus: "Daily bonus reminder", notice_subscription: "Subscription",
    chat_language: "Assistant's answer language", chat_same: "Same as the question", saved: "Saved",
    loading: "Loading…", error: "Couldn't load", retry: "Retry",
    offline: "Can't reach the server. Check your connection and try again.",
    not_registered: "Start the bot first: press Start in the chat.", open_bot: "Open the bot",
    unauthorized: "Open the cabinet from the bot in Telegram.",
  },
};

let current = "ru";

export function pickLanguage(code) {
  return String(code || "").toLowerCase().startsWith("en") ? "en" : "ru";
}

export function setLanguage(code) {
  current = pickLanguage(code);
  document.documentElement.lang = current;
}

export const language = () => current;

export function t(key, vars = {}) {
  const text = TEXTS[current][key] ?? TEXTS.en[key] ?? key;
  return String(text).replace(/\{(\w+)\}/g, (_, name) => (name in vars ? vars[name] : `{${name}}`));
}

// "5 кредитов" / "1 credit": Intl plural rules pick the form.
export function credits(n) {
  const forms = TEXTS[current].credits;
  const rule = new Intl.PluralRules(current).select(Math.abs(n));
  const index = current === "ru" ? { one: 0, few: 1 }[rule] ?? 2 : rule === "one" ? 0 : 1;
  return `${formatNumber(n)} ${forms[index]}`;
}

export const formatNumber = (n) => new Intl.NumberFormat(current).format(n);

export function formatDate(iso, withTime = true) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const options = { day: "numeric", month: "short", year: "numeric" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(current, options).format(date);
}
