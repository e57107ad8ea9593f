// Canned responses (personal and shared): pick one, the server fills in the ticket's fields, it lands in the box.
import { get, optional, post } from "./api.js";
import { h } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t } from "./i18n.js";

let responses;  // undefined: not asked yet; null: this server has none

/** Add a canned-response chooser to ``form`` (hidden when the server has no canned responses). */
export async function cannedPicker(form, textarea, ticket) {
  if (responses === undefined) responses = await optional(get("/canned-responses")).catch(() => null);
  if (!responses || !responses.items || !responses.items.length) return;
  const select = h("select", { id: "t-canned" }, h("option", { value: "" }, t("canned.choose")),
    ...responses.items.map((r) => h("option", { value: r.id }, r.title || r.name || String(r.id))));
  select.addEventListener("change", async () => {
    if (!select.value) return;
    try {
      const out = await post(`/canned-responses/${select.value}/render`, { ticket: ticket().number });
      textarea.value = textarea.value ? `${textarea.value}\n${out.body}` : out.body;
      if (out.unknown && out.unknown.length) failed(form, t("canned.unknown", { names: out.unknown.join(", ") }));
    } catch (error) {
      failed(form, reason(error));
    }
    select.value = "";
    textarea.focus();
  });
  form.prepend(h("div", { class: "field" }, h("label", { for: "t-canned" }, t("canned.label")), select));
}
