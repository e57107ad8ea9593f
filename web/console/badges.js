// Small labels that carry meaning in text as well as colour: priority and status.
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** "P1 · Critical" on red, "P4 · Low" on grey: the colour never says it alone. */
export function priority(p) {
  return h("span", { class: `prio prio-${p}`, title: t("ticket.priority") }, `${p} · ${t(`priority.${p}`)}`);
}

export function status(s) {
  return h("span", { class: `status status-${s}` }, t(`status.${s}`));
}
