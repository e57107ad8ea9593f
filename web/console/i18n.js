// The console's words in English, Russian and Thai, and times in the agent's time zone.
import { en } from "./lang/en.js";
import { ru } from "./lang/ru.js";
import { th } from "./lang/th.js";

export const CATALOGS = { en, ru, th };
export const LANGUAGES = { en: "English", ru: "Русский", th: "ไทย" };
const STORE = "helpline.language";

let lang = "en";
let zone;  // undefined: the browser's own

/** The first of the agent's choice, this browser's remembered choice, the browser's languages that we speak. */
export function pick(preferred) {
  const wanted = [preferred, localStorage.getItem(STORE), ...(navigator.languages || [navigator.language])];
  for (const tag of wanted) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (CATALOGS[base]) return base;
  }
  return "en";
}

export function setLanguage(code, remember = false) {
  lang = CATALOGS[code] ? code : "en";
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem(STORE, lang);
  translatePage(document);
}

export function language() { return lang; }

export function setTimeZone(name) {
  try { new Intl.DateTimeFormat("en", { timeZone: name }); zone = name || undefined; } catch { zone = undefined; }
}

/** t("key", {n: 3}) -> the text in the current language ({n} filled in), English when a word is missing. */
export function t(key, vars = {}) {
  const text = CATALOGS[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A time as the agent reads it: their language, their time zone. */
export function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: zone }).format(new Date(iso));
}

/** Fill the static page: data-i18n (text), data-i18n-label (aria-label), data-i18n-placeholder. */
export function translatePage(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t("page.title");
}
