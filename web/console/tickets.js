// Tickets: the ticket view (comment, status, priority, reassign, call back), my queue, at-risk, search.
import { ApiError, get, patch, post } from "./api.js";
import { clear, duration, h, say, when } from "./dom.js";

const LEVELS = ["high", "medium", "low"];

function ticketLink(t, open) {
  return h("button", { type: "button", class: "linkish", onclick: () => open(t.number) }, `${t.number} ${t.title}`);
}

export class TicketView {
  constructor(root, { callBack, refresh }) {
    this.root = root;
    this.callBack = callBack;
    this.refresh = refresh;
    this.ticket = null;
  }

  async open(ref) {
    try {
      this.ticket = await get(`/tickets/${encodeURIComponent(ref)}`);
    } catch (error) {
      say(`Cannot open ${ref}: ${error.message}`);
      return;
    }
    const history = await get(`/tickets/${this.ticket.number}/activity?limit=50`).catch(() => ({ items: [] }));
    this.render(history.items);
    this.root.hidden = false;
    this.root.querySelector("h2").focus();
  }

  async change(action, label) {
    try {
      await action(this.ticket.etag);
      say(`${this.ticket.number}: ${label}`);
    } catch (error) {
      const stale = error instanceof ApiError && error.status === 412;
      say(stale ? `${this.ticket.number} was changed by someone else meanwhile: reloaded, please check and retry`
                : `${this.ticket.number}: ${error.message}`);
    }
    await this.open(this.ticket.number);
    this.refresh();
  }

  render(history) {
    const t = this.ticket;
    const num = t.number;
    const ifMatch = (etag) => ({ "If-Match": etag });
    const field = (id, label, control) => h("label", { for: id }, label, control);

    const comment = h("textarea", { id: "t-comment", name: "comment", required: true });
    const isPublic = h("input", { id: "t-public", type: "checkbox" });
    const status = h("select", { id: "t-status" }, h("option", { value: "" }, "— choose —"),
                     ...t.allowed_transitions.map((s) => h("option", { value: s }, s)));
    const resolution = h("input", { id: "t-resolution", maxlength: 2000 });
    const impact = h("select", { id: "t-impact" }, ...LEVELS.map((l) => h("option", { value: l, selected: l === t.impact }, l)));
    const urgency = h("select", { id: "t-urgency" }, ...LEVELS.map((l) => h("option", { value: l, selected: l === t.urgency }, l)));
    const assignee = h("input", { id: "t-assignee", value: t.assignee ? t.assignee.login : "", autocomplete: "off" });

    clear(this.root).append(
      h("h2", { id: "ticket-title", tabindex: "-1" }, `${num}: ${t.title}`),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", { class: "t-status" }, t.status),
        h("dt", {}, "Priority"), h("dd", { class: "t-priority" }, `${t.priority} (impact ${t.impact}, urgency ${t.urgency})`),
        h("dt", {}, "Requester"), h("dd", {}, t.requester ? `${t.requester.name}${t.requester.vip ? " (VIP)" : ""}` : "—"),
        h("dt", {}, "Assignee"), h("dd", { class: "t-assignee" }, t.assignee ? t.assignee.display_name : "nobody"),
        h("dt", {}, "Caller"), h("dd", {}, t.caller_number || "—", " ", t.caller_number
          ? h("button", { type: "button", onclick: () => this.callBack(t.caller_number) }, `Call ${t.caller_number}`) : null),
        h("dt", {}, "Opened"), h("dd", {}, when(t.created_at))),
      t.description ? h("p", { class: "description" }, t.description) : null,

      h("form", { "aria-label": "Comment", onsubmit: (e) => { e.preventDefault(); if (comment.value.trim())
          this.change(() => post(`/tickets/${num}/comments`, { body: comment.value, public: isPublic.checked }), "comment added"); } },
        field("t-comment", "Comment", comment),
        h("label", { for: "t-public", class: "check" }, isPublic, " visible to the requester"),
        h("button", { type: "submit", class: "primary" }, "Add comment")),

      h("form", { "aria-label": "Status", class: "row", onsubmit: (e) => { e.preventDefault(); if (!status.value) return;
          const body = { to: status.value };
          if (resolution.value.trim()) body.resolution = resolution.value.trim();
          this.change((etag) => post(`/tickets/${num}/transitions`, body, ifMatch(etag)), `status ${status.value}`); } },
        field("t-status", "Move to", status), field("t-resolution", "Resolution (to resolve)", resolution),
        h("button", { type: "submit" }, "Change status")),

      h("form", { "aria-label": "Priority", class: "row", onsubmit: (e) => { e.preventDefault();
          this.change((etag) => patch(`/tickets/${num}`, { impact: impact.value, urgency: urgency.value }, ifMatch(etag)),
                      "priority changed"); } },
        field("t-impact", "Impact", impact), field("t-urgency", "Urgency", urgency),
        h("button", { type: "submit" }, "Set priority")),

      h("form", { "aria-label": "Assignment", class: "row", onsubmit: (e) => { e.preventDefault();
          const login = assignee.value.trim() || null;
          this.change((etag) => post(`/tickets/${num}/assign`, { assignee: login }, ifMatch(etag)),
                      login ? `assigned to ${login}` : "unassigned"); } },
        field("t-assignee", "Assignee (login, empty: nobody)", assignee),
        h("button", { type: "submit" }, "Reassign")),

      h("h3", {}, "History"),
      h("ul", { class: "list history" }, ...history.map((a) => h("li", {},
        h("span", { class: "muted" }, `${when(a.created_at)} ${a.actor}: `),
        a.kind === "comment" ? a.body : `${a.kind}${a.field ? " " + a.field : ""}${a.new ? " → " + a.new : ""}${a.body ? ": " + a.body : ""}`))),
    );
  }
}

export async function loadMine(list, open) {
  const page = await get("/tickets?assignee=me&status=new,open,pending&sort=priority&limit=20").catch(() => ({ items: [] }));
  clear(list);
  for (const t of page.items) list.append(h("li", {}, ticketLink(t, open), " ", h("span", { class: "muted" }, `${t.priority}, ${t.status}`)));
  if (!page.items.length) list.append(h("li", { class: "muted" }, "Nothing assigned to you."));
}

export async function loadAtRisk(list, open) {
  let page;
  try {
    page = await get("/sla/at-risk?limit=10");
  } catch (error) {
    clear(list).append(h("li", { class: "muted" }, error.status === 404 ? "SLA tracking is not available." : error.message));
    return;
  }
  clear(list);  // after the answer: refreshes that overlap (a burst of ticket events) do not add up
  const now = Date.now();
  for (const item of page.items) {
    const left = item.clock.due_at ? (Date.parse(item.clock.due_at) - now) / 1000 : null;
    list.append(h("li", {}, ticketLink({ number: item.number, title: item.title }, open), " ",
      h("span", { class: `countdown${left !== null && left < 0 ? " overdue" : ""}` },
        left === null ? `${item.clock.metric}: paused` : left < 0 ? `${item.clock.metric}: overdue ${duration(-left)}`
                                                              : `${item.clock.metric}: ${duration(left)} left`)));
  }
  if (!page.items.length) list.append(h("li", { class: "muted" }, "No ticket is at risk."));
}

export async function search(q, list, open) {
  clear(list);
  const page = await get(`/tickets?q=${encodeURIComponent(q)}&limit=20`).catch((e) => { say(e.message); return { items: [] }; });
  for (const t of page.items) list.append(h("li", {}, ticketLink(t, open), " ", h("span", { class: "muted" }, t.status)));
  if (!page.items.length) list.append(h("li", { class: "muted" }, "No ticket matches."));
}
