// A ticket's history in words: replies, internal notes, calls, status and field changes, SLA events.
import { duration, h } from "./dom.js";
import { t, when } from "./i18n.js";

const known = (prefix, value) => {
  const text = t(`${prefix}.${value}`);
  return text === `${prefix}.${value}` ? value : text;
};

/** "pbx:main" -> "the phone system"; an agent's login stays. */
export function who(actor) {
  if (!actor) return t("actor.system");
  if (actor.startsWith("pbx")) return t("actor.pbx");
  if (actor.startsWith("sla")) return t("actor.sla");
  if (actor.includes(":") || actor === "system") return t("actor.system");
  return actor;
}

const value = (field, v) => {
  if (v === null || v === undefined || v === "") return t("field.empty");
  if (field === "type") return known("type", v);
  if (field === "impact" || field === "urgency") return known("level", v);
  if (field === "priority") return known("priority", v);
  if (field === "status") return known("status", v);
  return v;
};

function activityLine(a) {
  const by = who(a.actor);
  switch (a.kind) {
    case "created": return { cls: "system", text: t("history.created", { who: by }) };
    case "comment": return { cls: a.public ? "reply" : "note", label: t(a.public ? "history.reply" : "history.note", { who: by }), body: a.body };
    case "assigned": return { cls: "system", text: a.new ? t("history.assigned", { who: by, to: a.new }) : t("history.unassigned", { who: by }) };
    case "status_changed": return { cls: "system", text: t("history.status", { who: by, from: value("status", a.old), to: value("status", a.new) }), body: a.body };
    case "sla": {
      const kind = String(a.new || "").split(":");
      const text = kind[0] === "breached" ? t("history.sla.breached", { metric: known("metric", a.field) })
        : kind[0] === "warning" ? t("history.sla.warning", { metric: known("metric", a.field), percent: kind[1] || "?" })
        : a.body;
      return { cls: "sla", text };
    }
    case "field_changed": return { cls: "system", text: t("history.field", { who: by, field: known("fieldname", a.field),
      from: value(a.field, a.old), to: value(a.field, a.new) }) };
    default: return null;  // calls: from the ticket's calls, with their numbers
  }
}

function callLine(c) {
  const outcome = c.state === "ended" ? known("outcome", c.outcome) : known("callstate", c.state);
  const parts = [t("history.call", { from: c.caller_name || c.caller_number || t("call.withheld") })];
  if (c.queue) parts.push(t("history.call.queue", { queue: c.queue }));
  if (c.wait_seconds !== null && c.wait_seconds !== undefined) parts.push(t("history.call.wait", { time: duration(c.wait_seconds) }));
  if (c.talk_seconds) parts.push(t("history.call.talk", { time: duration(c.talk_seconds) }));
  if (c.agent_name || c.agent) parts.push(t("history.call.agent", { agent: c.agent_name || c.agent }));
  parts.push(outcome);
  return { cls: `call${c.outcome && c.outcome !== "answered" ? " missed" : ""}`, text: parts.join(" · ") };
}

/** The timeline of ``activity`` and ``calls``, oldest first. */
export function timeline(activity, calls) {
  const rows = [
    ...activity.map((a) => ({ at: a.created_at, line: activityLine(a) })),
    ...calls.map((c) => ({ at: c.started_at, line: callLine(c) })),
  ].filter((r) => r.line).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return h("ol", { class: "timeline", "aria-label": t("ticket.history") }, ...rows.map(({ at, line }) =>
    h("li", { class: `entry ${line.cls}` },
      h("p", { class: "what" }, h("time", { datetime: at }, when(at)), " ", line.label || line.text),
      line.body ? h("p", { class: "body" }, line.body) : null)));
}
