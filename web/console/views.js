// The views sidebar: unassigned, mine, the team's, callbacks, waiting, at risk, resolved, each with its count.
// From GET /views where the server has it; otherwise the views the list filters can express, counted by listing.
import { get, optional } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

export const ORDER = ["unassigned", "mine", "team", "callbacks", "waiting", "at_risk", "resolved"];
const OPEN = "status=new,open,pending";
const FALLBACK = {
  unassigned: `assignee=none&${OPEN}`, mine: `assignee=me&${OPEN}&sort=priority`, team: OPEN,
  waiting: "status=pending", resolved: "status=resolved,closed&sort=-updated",
};
const COUNT_LIMIT = 200;

export class Views {
  constructor(root, pick) {
    this.root = root;
    this.pick = pick;        // (id, label) -> the list shows it
    this.server = null;      // whether the server has GET /views
    this.current = "mine";
  }

  /** The list query of view ``id``. */
  query(id) { return this.server ? `view=${id}` : FALLBACK[id]; }

  async counts() {
    const out = await optional(get("/views")).catch(() => null);
    this.server = Boolean(out);
    if (out) return new Map(out.items.map((v) => [v.id, String(v.count)]));
    const ids = Object.keys(FALLBACK);
    const pages = await Promise.all(ids.map((id) => get(`/tickets?${FALLBACK[id]}&limit=${COUNT_LIMIT}`).catch(() => null)));
    return new Map(ids.map((id, i) => [id, pages[i] ? `${pages[i].items.length}${pages[i].next ? "+" : ""}` : "?"]));
  }

  async load() {
    const counts = await this.counts();
    clear(this.root);
    for (const id of ORDER.filter((v) => counts.has(v))) {
      this.root.append(h("li", {}, h("button", {
        type: "button", class: "view", dataset: { view: id }, "aria-current": id === this.current ? "true" : null,
        onclick: () => this.choose(id),
      }, h("span", { class: "label" }, t(`view.${id}`)), " ", h("span", { class: "count" }, counts.get(id)))));
    }
  }

  choose(id) {
    this.current = id;
    for (const b of this.root.querySelectorAll("button.view")) {
      if (b.dataset.view === id) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    }
    this.pick(this.query(id), t(`view.${id}`));
  }

  focus() {
    const button = this.root.querySelector("button[aria-current]") || this.root.querySelector("button");
    if (button) button.focus();
  }
}
