// The queue board: each queue now (waiting, longest wait, agents, today) from GET /queues + queue.stats events,
// and the calls in progress per queue with how long they have waited (from the call events).
import { get } from "./api.js";
import { clear, duration, h } from "./dom.js";
import { t } from "./i18n.js";

const key = (d) => `${d.pbx}/${d.queue}`;

export class QueueStats {
  constructor(table, empty) {
    this.body = table.querySelector("tbody");
    this.empty = empty;
    this.queues = new Map(); // "pbx/queue" -> stats, with when they arrived (the longest wait ticks on from there)
    setInterval(() => this.render(), 1000);
  }

  /** The queues this agent sees ("pbx/queue"), after showing them. */
  async load() {
    const page = await get("/queues").catch(() => ({ items: [] }));
    for (const q of page.items) this.queues.set(key(q), { ...q, received: Date.now() });
    this.render();
    return new Set(page.items.map(key));
  }

  update(d) {
    this.queues.set(key(d), { ...d, received: Date.now() });
    this.render();
  }

  render() {
    clear(this.body);
    const pbxs = new Set([...this.queues.values()].map((q) => q.pbx));
    const rows = [...this.queues.values()].sort((a, b) => key(a).localeCompare(key(b)));
    for (const q of rows) {
      const longest = q.waiting ? q.longest_wait_seconds + (Date.now() - q.received) / 1000 : 0;
      this.body.append(h("tr", { dataset: { queue: q.queue, pbx: q.pbx } },
        h("th", { scope: "row", class: "q-name" }, pbxs.size > 1 ? `${q.queue} (${q.pbx})` : q.queue,
          h("span", { class: "q-today muted" }, t("queues.today", { answered: q.answered_today, abandoned: q.abandoned_today }))),
        h("td", { class: `q-waiting${q.waiting ? " busy" : ""}` }, String(q.waiting)),
        h("td", { class: "q-longest" }, q.waiting ? duration(longest) : "—"),
        h("td", { class: "q-agents" }, t("queues.agentcounts", { free: q.available, busy: q.busy, paused: q.paused }))));
    }
    this.empty.hidden = rows.length > 0;
  }
}

export class QueueBoard {
  constructor(table, empty) {
    this.body = table.querySelector("tbody");
    this.empty = empty;
    this.calls = new Map(); // linkedid -> {queue, caller, state, since}
    setInterval(() => this.render(), 1000);
  }

  /** ``visible``: the queues this agent sees ("pbx/queue"; empty: not known yet, show every call). */
  async load(visible = new Set()) {
    const page = await get("/calls?state=offered,ringing,answered&limit=100").catch(() => ({ items: [] }));
    for (const c of page.items) {
      if (c.queue && visible.size && !visible.has(key(c))) continue;
      this.calls.set(c.linkedid, { queue: c.queue, caller: c.caller_name || c.caller_number, state: { offered: "waiting", ringing: "ringing", answered: "talking" }[c.state] || "waiting",
                                   since: Date.parse(c.started_at) });
    }
    this.render();
  }

  event(type, d) {
    if (type === "call.ended") this.calls.delete(d.linkedid);
    else {
      const known = this.calls.get(d.linkedid);
      const state = { "call.offered": "waiting", "call.queued": "waiting", "call.ringing": "ringing",
                      "call.answered": "talking", "call.taken": "talking" }[type];
      this.calls.set(d.linkedid, { queue: d.queue || (known && known.queue), since: known ? known.since : Date.parse(d.at),
                                   caller: d.caller_name || d.caller_number || (known && known.caller) || "—", state });
    }
    this.render();
  }

  render() {
    clear(this.body);
    const rows = [...this.calls.values()].sort((a, b) => (a.queue || "").localeCompare(b.queue || "") || a.since - b.since);
    for (const c of rows) {
      const waited = (Date.now() - c.since) / 1000;
      this.body.append(h("tr", {}, h("td", {}, c.queue || "—"), h("td", {}, c.caller), h("td", {}, t(`calls.${c.state}`)),
                         h("td", {}, c.state === "talking" ? "—" : duration(waited))));
    }
    this.empty.hidden = rows.length > 0;
  }
}
