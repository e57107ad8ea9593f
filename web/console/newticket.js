// "New ticket": a walk-up, a colleague's e-mail, a call the intake did not open one for.
import { post } from "./api.js";
import { clear, h } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t } from "./i18n.js";
import { personPicker } from "./pickers.js";

const CHANNELS = ["phone", "email", "web"];

/** Show the form in ``root``; ``opened(number)`` when the ticket exists. */
export function newTicketForm(root, opened, prefill = {}) {
  const title = h("input", { id: "n-title", maxlength: 200, required: true, value: prefill.title || "" });
  const description = h("textarea", { id: "n-description", rows: 4 });
  const channel = h("select", { id: "n-channel" }, ...CHANNELS.map((c) => h("option", { value: c, selected: c === (prefill.channel || "phone") }, t(`channel.${c}`))));
  const type = h("select", { id: "n-type" }, ...["incident", "service_request"].map((v) => h("option", { value: v }, t(`type.${v}`))));
  const requester = personPicker("n-requester", prefill.requester || null);
  const form = h("form", { class: "new-ticket", novalidate: true, "aria-labelledby": "n-heading", onsubmit: async (e) => {
    e.preventDefault();
    if (!title.value.trim()) { failed(form, t("new.title.missing")); return; }
    const body = { title: title.value.trim(), description: description.value, type: type.value, channel: channel.value };
    if (requester.get()) body.requester_id = requester.get();
    if (prefill.caller_number) body.caller_number = prefill.caller_number;
    try {
      const ticket = await post("/tickets", body);
      await opened(ticket.number);
    } catch (error) { failed(form, reason(error)); }
  } },
    h("h2", { id: "n-heading", tabindex: "-1" }, t("new.heading")),
    h("div", { class: "field" }, h("label", { for: "n-title" }, t("fieldname.title")), title),
    h("div", { class: "field" }, h("label", { for: "n-description" }, t("fieldname.description")), description),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "n-type" }, t("fieldname.type")), type),
      h("div", { class: "field" }, h("label", { for: "n-channel" }, t("fieldname.channel")), channel)),
    h("div", { class: "field" }, h("label", { for: "n-requester" }, t("fieldname.requester_id")), requester.el),
    h("button", { type: "submit", class: "primary" }, t("new.create")));
  clear(root).append(form);
  root.hidden = false;
  form.querySelector("h2").focus();
}
