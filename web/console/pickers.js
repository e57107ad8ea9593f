// Choosing an agent (from the agents list) and a person (searching the directory) instead of typing ids.
import { get } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

let agents = null;  // the active agents, fetched once; [] when this agent may not list them

async function activeAgents() {
  if (agents === null) {
    const page = await get("/agents?active=true&limit=200").catch(() => ({ items: [] }));
    agents = page.items;
  }
  return agents;
}

/** A select of the agents (by name); a login field when the list is not open to this agent. */
export async function agentPicker(id, login) {
  const list = await activeAgents();
  if (!list.length) {
    const input = h("input", { id, value: login || "", autocomplete: "off", placeholder: t("field.assignee.login") });
    return { el: input, get: () => input.value.trim() || null, set: (v) => { input.value = v || ""; } };
  }
  const select = h("select", { id }, h("option", { value: "" }, t("field.nobody")),
    ...list.map((a) => h("option", { value: a.login }, `${a.display_name} (${a.login})`)));
  const set = (v) => {
    if (v && ![...select.options].some((o) => o.value === v)) select.append(h("option", { value: v }, v));
    select.value = v || "";
  };
  set(login);
  return { el: select, get: () => select.value || null, set };
}

/** A person: the chosen one's name, a search box and the matches as buttons. */
export function personPicker(id, person, onChange = () => {}) {
  let chosen = person ? person.id : null;
  const name = h("span", { class: "chosen" }, person ? person.name : t("field.nobody"));
  const input = h("input", { id, type: "search", autocomplete: "off", placeholder: t("field.person.find") });
  const matches = h("ul", { class: "choices", "aria-label": t("field.person.matches") });
  const set = (value, label) => { chosen = value; name.textContent = value ? label : t("field.nobody"); };
  const choose = (p) => { set(p ? p.id : null, p ? p.name : ""); clear(matches); input.value = ""; onChange(); };
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      clear(matches);
      if (!q) return;
      const page = await get(`/people?q=${encodeURIComponent(q)}&limit=8`).catch(() => ({ items: [] }));
      for (const p of page.items) {
        matches.append(h("li", {}, h("button", { type: "button", class: "linkish", onclick: () => choose(p) },
          p.name, p.department ? ` · ${p.department}` : "")));
      }
      if (!page.items.length) matches.append(h("li", { class: "muted" }, t("field.person.none")));
    }, 250);
  });
  const el = h("div", { class: "picker" }, name, " ",
    h("button", { type: "button", class: "linkish", onclick: () => choose(null) }, t("field.clear")), input, matches);
  return { el, get: () => chosen, set: (value, label) => set(value, label) };
}
