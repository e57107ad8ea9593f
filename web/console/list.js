// The ticket list: a view or a search, filtered and sorted, a page at a time ("More"); j/k move, Enter opens.
import { get } from "./api.js";
import { priority, status } from "./badges.js";
import { clear, h } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t, when } from "./i18n.js";

const PAGE = 25;

export class TicketList {
  constructor({ list, more, title, filters, place }, open) {
    Object.assign(this, { list, more, title, filters, place, open });
    this.query = "";
    this.next = null;
    this.selected = -1;
    more.addEventListener("click", () => this.page());
    filters.addEventListener("change", () => this.show(this.query, this.title.textContent));
    filters.addEventListener("submit", (event) => { event.preventDefault(); this.show(this.query, this.title.textContent); });
  }

  params() {
    const params = new URLSearchParams(this.query);
    for (const [name, value] of new FormData(this.filters)) if (value) params.set(name, value);
    params.set("limit", PAGE);
    return params;
  }

  /** Show the tickets of ``query`` (view or search parameters) under ``heading``, from the first page. */
  async show(query, heading) {
    this.query = query;
    this.title.textContent = heading;
    this.next = null;
    this.selected = -1;
    clear(this.list);
    await this.page(true);
  }

  async page(first = false) {
    const params = this.params();
    if (!first && this.next) params.set("cursor", this.next);
    this.paged = !first;
    let page;
    try {
      page = await get(`/tickets?${params}`);
    } catch (error) {
      failed(this.place, reason(error));
      return;
    }
    for (const ticket of page.items) this.list.append(this.row(ticket));
    if (first && !page.items.length) this.list.append(h("li", { class: "muted empty" }, t("list.empty")));
    this.next = page.next;
    this.more.hidden = !page.next;
  }

  row(ticket) {
    return h("li", { class: "ticket-row", dataset: { number: ticket.number } },
      h("button", { type: "button", class: "linkish open", onclick: () => this.open(ticket.number) },
        h("span", { class: "number" }, ticket.number), " ", ticket.title),
      h("span", { class: "meta" }, priority(ticket.priority), " ", status(ticket.status), " ",
        ticket.requester ? ticket.requester.name : "", " · ", when(ticket.updated_at)));
  }

  /** Show the first page again (new tickets, new order) unless the agent has paged further. */
  refresh() {
    if (!this.paged && this.query) this.show(this.query, this.title.textContent);
  }

  rows() { return [...this.list.querySelectorAll("li.ticket-row")]; }

  /** j/k: move the selection by ``step`` rows. */
  move(step) {
    const rows = this.rows();
    if (!rows.length) return;
    this.selected = Math.max(0, Math.min(rows.length - 1, this.selected + step));
    rows.forEach((row, i) => row.classList.toggle("selected", i === this.selected));
    rows[this.selected].querySelector("button.open").focus();
  }
}
