// Merging a duplicate into another ticket and linking a parent: forms that go quiet where the server lacks them.
import { del, put, post } from "./api.js";
import { h, say } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t } from "./i18n.js";

const TICKET = /^[A-Za-z]+-\d+$/;

function refused(form, error) {
  if (error.status === 404 && !error.problem.detail?.includes("ticket")) {
    failed(form, t("feature.unavailable"));
  } else {
    failed(form, reason(error));
  }
}

/** The "Links" section of the ticket pane; ``open`` shows a ticket after a merge. */
export function linksForm(ticket, open) {
  const into = h("input", { id: "t-merge", autocomplete: "off", placeholder: "IT-42" });
  const parent = h("input", { id: "t-parent", autocomplete: "off", placeholder: "IT-42" });
  const merge = h("form", { class: "row", "aria-label": t("links.merge"), onsubmit: async (e) => {
    e.preventDefault();
    const target = into.value.trim().toUpperCase();
    if (!TICKET.test(target)) { failed(merge, t("links.number")); return; }
    try {
      await post(`/tickets/${ticket().number}/merge`, { into: target });
      say(t("links.merged", { number: ticket().number, into: target }));
      await open(target);
    } catch (error) { refused(merge, error); }
  } }, h("div", { class: "field" }, h("label", { for: "t-merge" }, t("links.merge.into")), into),
     h("button", { type: "submit" }, t("links.merge")));
  const link = (method) => async () => {
    const target = parent.value.trim().toUpperCase();
    if (method === put && !TICKET.test(target)) { failed(parents, t("links.number")); return; }
    try {
      await method(`/tickets/${ticket().number}/parent`, method === put ? { parent: target } : undefined);
      say(method === put ? t("links.parented", { number: ticket().number, parent: target }) : t("links.unparented", { number: ticket().number }));
    } catch (error) { refused(parents, error); }
  };
  const parents = h("form", { class: "row", "aria-label": t("links.parent"), onsubmit: (e) => { e.preventDefault(); link(put)(); } },
    h("div", { class: "field" }, h("label", { for: "t-parent" }, t("links.parent")), parent),
    h("button", { type: "submit" }, t("links.parent.set")),
    h("button", { type: "button", onclick: link(del) }, t("links.parent.remove")));
  return h("details", { class: "links" }, h("summary", {}, t("links.title")), merge, parents);
}
