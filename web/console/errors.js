// Errors shown next to the action that failed; each stays until the agent dismisses it.
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** Show ``message`` at the end of ``place`` (the form or card of the action), replacing its earlier one. */
export function failed(place, message) {
  const old = place.querySelector(":scope > .failure");
  if (old) old.remove();
  const box = h("div", { class: "failure", role: "alert" }, h("span", {}, message), " ",
    h("button", { type: "button", class: "dismiss-error", onclick: () => box.remove() }, t("action.dismiss")));
  place.append(box);
  return box;
}

/** The text of a failed request, in words. */
export function reason(error) {
  if (!error || !error.status) return t("error.network");
  if (error.status === 403) return t("error.forbidden");
  return error.message;
}
