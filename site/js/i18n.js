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
    // the operator's section (admin.js)
    tab_admin: "Админ", a_stats: "Статистика", a_users: "Пользователи", a_promo: "Промокоды", a_settings: "Цены", a_settings_title: "Цены, пакеты, каталог, подписка",
    a_broadcasts: "Рассылки", a_log: "Журнал", a_audit: "Сверка", a_audit_title: "Сверка балансов с операциями",
    a_user_id: "ID пользователя", a_user_id_bad: "ID: только цифры", a_find: "Найти", a_none: "Пусто",
    a_created: "Зарегистрирован", a_seen: "Был в боте", a_generations: "Генераций", a_referrals: "Приглашено",
    a_referrer: "Пригласил", a_subscription: "Подписка до", a_first_paid: "Первая оплата",
    a_banned: "Заблокирован", a_blocked: "Заблокирован", a_blocked_bot: "Заблокировал бота",
    a_block: "Заблокировать", a_unblock: "Разблокировать", a_block_title: "Блокировка", a_unblock_title: "Снять блокировку",
    a_block_hint: "Бот отвечает заблокированному только «доступ приостановлен»; кабинет, уведомления и рассылки ему закрыты.",
    a_blocked_done: "Пользователь заблокирован", a_unblocked: "Блокировка снята",
    a_grant: "Начислить или списать кредиты", a_credits: "Кредиты", a_grant_hint: "Отрицательное число — списать",
    a_reason: "Причина", a_reason_hint: "Причина (видна в журнале)", a_reason_needed: "Укажите причину",
    a_grant_do: "Провести", a_grant_bad: "Введите целое число, не ноль", a_granted: "{n}: баланс {balance}",
    a_grant_repeat: "Уже проведено: повтор не изменил баланс",
    a_ledger: "Последние операции", a_payments: "Платежи", a_jobs: "Генерации",
    a_refund: "Вернуть", a_refund_do: "Вернуть деньги", a_refund_q: "Вернуть {money} и списать {n}?",
    a_refunded: "Возврат проведён: −{n}, баланс {balance}", a_refund_repeat: "Этот платёж уже возвращён",
    a_cancel: "Отмена", a_optional: "необязательно",
    a_pay_pending: "ожидает", a_pay_succeeded: "оплачен", a_pay_canceled: "отменён", a_pay_refunded: "возвращён",
    a_job_queued: "в очереди", a_job_running: "идёт", a_job_succeeded: "готово", a_job_failed: "ошибка",
    a_kind_welcome: "Приветственный бонус", a_kind_referral: "За друга", a_kind_daily: "Ежедневный бонус",
    a_kind_debit: "Списание", a_kind_refund: "Возврат", a_kind_purchase: "Покупка",
    a_kind_subscription: "Подписка", a_kind_promo: "Промокод", a_kind_grant: "Начисление оператором",
    a_promo_new: "Новый промокод", a_promo_code: "Код", a_promo_uses: "Активаций всего", a_promo_expires: "Действует до",
    a_promo_create: "Создать", a_promo_made: "Создан {code}: {n}", a_promo_list: "Все промокоды",
    a_promo_empty: "Промокодов пока нет", a_promo_used: "использован {used} из {max}", a_promo_until: "до {date}",
    a_promo_on: "активен", a_promo_off: "выключен", a_promo_expired: "истёк", a_promo_disable: "Выключить",
    a_promo_disable_q: "Выключить {code}? Включить снова нельзя.", a_promo_disabled: "{code} выключен",
    a_set_prices: "Цены", a_set_packs: "Пакеты", a_set_catalog: "Каталог", a_set_subscription: "Подписка",
    a_set_prices_hint: "Цена в кредитах: «режим/уровень»: число. Не указанные — по умолчанию.",
    a_set_packs_hint: "Пакеты: имя → {credits, stars, rubles, on_sale}. Заменяет весь список.",
    a_set_catalog_hint: "Режим → уровень → список {provider, model}.",
    a_set_subscription_hint: "credits_per_period, chat_per_day, month_stars, year_stars; не указанные — по умолчанию.",
    a_set_default: "Не задано: действуют значения по умолчанию", a_set_updated: "Изменено {date}",
    a_set_not_json: "Это не JSON: {error}", a_set_not_object: "Нужен объект JSON: {…}", a_save: "Сохранить", a_revert: "Вернуть как было",
    a_bc_new: "Новая рассылка", a_bc_text: "Текст", a_bc_text_hint: "Привет! <b>Новое</b> в боте…",
    a_bc_html: "HTML Telegram: <b>, <i>, <u>, <s>, <a href>, <code>", a_bc_text_needed: "Напишите текст",
    a_bc_photo: "Фото (URL или file_id)", a_bc_button: "Кнопка: текст", a_bc_button_url: "Кнопка: ссылка",
    a_bc_all: "Все", a_bc_paying: "Платили", a_bc_payers: "Платившие", a_bc_never_paid: "Не платившие",
    a_bc_active: "Активны за последние N дней", a_bc_create: "Создать черновик", a_bc_draft: "Черновик и ход рассылки",
    a_bc_start: "Начать рассылку", a_bc_selected: "Получателей", a_bc_sent: "Доставлено", a_bc_failed: "Ошибок",
    a_bc_blocked: "Заблокировали бота", a_bc_skipped: "Пропущено", a_bc_started: "Начата {date}", a_bc_finished: "Завершена {date}", a_bc_not_started: "Ещё не отправлялась: проверьте текст и нажмите «Начать рассылку»",
    a_bc_status_draft: "черновик", a_bc_status_sending: "идёт отправка", a_bc_status_done: "завершена", a_bc_status_cancelled: "отменена",
    a_log_empty: "Действий пока нет",
    a_act_block: "Блокировка", a_act_unblock: "Разблокировка", a_act_grant: "Начисление", a_act_revoke: "Списание",
    a_act_refund: "Возврат", a_act_promo_create: "Новый промокод", a_act_promo_disable: "Промокод выключен",
    a_act_setting: "Настройка", a_act_broadcast_create: "Черновик рассылки", a_act_broadcast_start: "Рассылка начата",
    a_audit_hint: "Сверяет баланс каждого пользователя с суммой его операций. Читает таблицы целиком: запускайте по необходимости.",
    a_audit_run: "Запустить сверку", a_audit_ok: "Все балансы сходятся с операциями",
    a_audit_bad: "Расхождений: {n}", a_audit_row: "баланс {balance}, сумма операций {sum}",
    a_st_title: "За {n} дней", a_st_users: "Пользователей", a_st_users_hint: "обновляется раз в ~6 часов",
    a_st_new: "Новые", a_st_active: "Активные", a_st_today: "сегодня", a_st_stars: "Выручка, Stars", a_st_rub: "Выручка, ₽",
    a_st_payments: "Платежей", a_st_jobs: "Генераций", a_st_failed: "Ошибки", a_st_failed_n: "ошибок: {n}", a_st_refunds: "возвратов: {n}", a_st_ok: "Успешные",
    a_st_chat: "Ассистент", a_st_messages: "сообщений", a_st_ch_jobs: "Генерации по дням", a_st_ch_users: "Пользователи по дням",
    a_st_ch_credits: "Кредиты: продано и потрачено", a_st_sold: "продано", a_st_spent: "потрачено",
    a_st_modes: "Генерации по режимам", a_st_mode: "Режим",
    a_st_chat_line: "Ассистент: токенов {tin} на входе, {tout} на выходе, ${cost}",
    a_st_failed_jobs: "Последние ошибки", a_st_failed_na: "Список ошибок пока недоступен",
    mode_describe: "Описание фото", mode_chat: "Ассистент",
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
    // the operator's section (admin.js)
    tab_admin: "Admin", a_stats: "Stats", a_users: "Users", a_promo: "Promo codes", a_settings: "Prices", a_settings_title: "Prices, packs, catalog, subscription",
    a_broadcasts: "Broadcasts", a_log: "Admin log", a_audit: "Audit", a_audit_title: "Balances against the ledger",
    a_user_id: "User ID", a_user_id_bad: "The ID is digits only", a_find: "Find", a_none: "Nothing here",
    a_created: "Joined", a_seen: "Last seen", a_generations: "Generations", a_referrals: "Invited",
    a_referrer: "Invited by", a_subscription: "Subscribed until", a_first_paid: "First payment",
    a_banned: "Blocked", a_blocked: "Blocked", a_blocked_bot: "Blocked the bot",
    a_block: "Block", a_unblock: "Unblock", a_block_title: "Block", a_unblock_title: "Unblock",
    a_block_hint: "The bot answers a blocked user only \"access suspended\"; no cabinet, notices or broadcasts.",
    a_blocked_done: "User blocked", a_unblocked: "User unblocked",
    a_grant: "Grant or take back credits", a_credits: "Credits", a_grant_hint: "Negative: take back",
    a_reason: "Reason", a_reason_hint: "Reason (goes to the admin log)", a_reason_needed: "Give a reason",
    a_grant_do: "Apply", a_grant_bad: "A whole number, not zero", a_granted: "{n}: balance {balance}",
    a_grant_repeat: "Already applied: the repeat changed nothing",
    a_ledger: "Latest operations", a_payments: "Payments", a_jobs: "Generations",
    a_refund: "Refund", a_refund_do: "Refund the money", a_refund_q: "Refund {money} and take back {n}?",
    a_refunded: "Refunded: −{n}, balance {balance}", a_refund_repeat: "This payment was already refunded",
    a_cancel: "Cancel", a_optional: "optional",
    a_pay_pending: "pending", a_pay_succeeded: "paid", a_pay_canceled: "cancelled", a_pay_refunded: "refunded",
    a_job_queued: "queued", a_job_running: "running", a_job_succeeded: "done", a_job_failed: "failed",
    a_kind_welcome: "Welcome bonus", a_kind_referral: "Referral", a_kind_daily: "Daily bonus",
    a_kind_debit: "Debit", a_kind_refund: "Refund", a_kind_purchase: "Purchase",
    a_kind_subscription: "Subscription", a_kind_promo: "Promo code", a_kind_grant: "Operator's grant",
    a_promo_new: "New promo code", a_promo_code: "Code", a_promo_uses: "Uses in all", a_promo_expires: "Valid until",
    a_promo_create: "Create", a_promo_made: "Created {code}: {n}", a_promo_list: "All promo codes",
    a_promo_empty: "No promo codes yet", a_promo_used: "used {used} of {max}", a_promo_until: "until {date}",
    a_promo_on: "active", a_promo_off: "disabled", a_promo_expired: "expired", a_promo_disable: "Disable",
    a_promo_disable_q: "Disable {code}? It can't be enabled again.", a_promo_disabled: "{code} disabled",
    a_set_prices: "Prices", a_set_packs: "Packs", a_set_catalog: "Catalog", a_set_subscription: "Subscription",
    a_set_prices_hint: "Credits per \"mode/tier\": a number. Keys left out keep their defaults.",
    a_set_packs_hint: "Packs: name → {credits, stars, rubles, on_sale}. Replaces the whole list.",
    a_set_catalog_hint: "Mode → tier → a list of {provider, model}.",
    a_set_subscription_hint: "credits_per_period, chat_per_day, month_stars, year_stars; the rest keep their defaults.",
    a_set_default: "Not set: the defaults apply", a_set_updated: "Changed {date}",
    a_set_not_json: "Not JSON: {error}", a_set_not_object: "A JSON object is needed: {…}", a_save: "Save", a_revert: "Undo edits",
    a_bc_new: "New broadcast", a_bc_text: "Text", a_bc_text_hint: "Hi! <b>New</b> in the bot…",
    a_bc_html: "Telegram HTML: <b>, <i>, <u>, <s>, <a href>, <code>", a_bc_text_needed: "Write the text",
    a_bc_photo: "Photo (URL or file_id)", a_bc_button: "Button text", a_bc_button_url: "Button link",
    a_bc_all: "All", a_bc_paying: "Paid", a_bc_payers: "Payers", a_bc_never_paid: "Never paid",
    a_bc_active: "Active in the last N days", a_bc_create: "Create a draft", a_bc_draft: "Draft and progress",
    a_bc_start: "Start sending", a_bc_selected: "Recipients", a_bc_sent: "Sent", a_bc_failed: "Failed",
    a_bc_blocked: "Blocked the bot", a_bc_skipped: "Skipped", a_bc_started: "Started {date}", a_bc_finished: "Finished {date}", a_bc_not_started: "Not sent yet: check the text, then press Start sending",
    a_bc_status_draft: "draft", a_bc_status_sending: "sending", a_bc_status_done: "finished", a_bc_status_cancelled: "cancelled",
    a_log_empty: "No actions yet",
    a_act_block: "Block", a_act_unblock: "Unblock", a_act_grant: "Grant", a_act_revoke: "Take back",
    a_act_refund: "Refund", a_act_promo_create: "Promo code created", a_act_promo_disable: "Promo code disabled",
    a_act_setting: "Setting", a_act_broadcast_create: "Broadcast draft", a_act_broadcast_start: "Broadcast started",
    a_audit_hint: "Checks every user's balance against the sum of their ledger. Reads both tables whole: run it when needed.",
    a_audit_run: "Run the audit", a_audit_ok: "Every balance matches its ledger",
    a_audit_bad: "Mismatches: {n}", a_audit_row: "balance {balance}, ledger sum {sum}",
    a_st_title: "Last {n} days", a_st_users: "Users", a_st_users_hint: "refreshed every ~6 hours",
    a_st_new: "New", a_st_active: "Active", a_st_today: "today", a_st_stars: "Revenue, Stars", a_st_rub: "Revenue, ₽",
    a_st_payments: "Payments", a_st_jobs: "Generations", a_st_failed: "Failed", a_st_failed_n: "{n} failed", a_st_refunds: "{n} refunded", a_st_ok: "Succeeded",
    a_st_chat: "Assistant", a_st_messages: "messages", a_st_ch_jobs: "Generations per day", a_st_ch_users: "Users per day",
    a_st_ch_credits: "Credits sold and spent", a_st_sold: "sold", a_st_spent: "spent",
    a_st_modes: "Generations by mode", a_st_mode: "Mode",
    a_st_chat_line: "Assistant: {tin} tokens in, {tout} out, ${cost}",
    a_st_failed_jobs: "Latest failures", a_st_failed_na: "The failures list isn't available yet",
    mode_describe: "Photo description", mode_chat: "Assistant",
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

// "30 нояб." / "Nov 30": a day of the stats ("YYYY-MM-DD", UTC).
export function formatDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(current, { day: "numeric", month: "short", timeZone: "UTC" }).format(date);
}
