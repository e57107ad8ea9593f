// Building DOM nodes from data without ever parsing data as HTML.

/** h("li", {class: "x", onclick: fn}, "text", child) -> element */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export function show(el, visible = true) { el.hidden = !visible; return el; }

/** 75 -> "1:15", 3725 -> "1:02:05" */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export { when } from "./i18n.js";

const notice = () => document.getElementById("notice");
let noticeTimer = null;
/** A short message in the polite live region. */
export function say(text) {
  notice().textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice().textContent = ""; }, 8000);
}
