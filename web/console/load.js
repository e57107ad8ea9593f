// The supervisor's view of every agent's load: open tickets and how many are at risk (GET /agents/load; absent
// for agents and on older servers).
import { get, optional } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

const name = (row) => row.name || row.display_name || (row.agent && (row.agent.display_name || row.agent.login)) || row.login || "?";
const count = (row, ...keys) => keys.map((k) => row[k]).find((v) => typeof v === "number") ?? "—";

export async function loadBoard(section, table) {
  const out = await optional(get("/agents/load")).catch(() => null);
  section.hidden = !out;
  if (!out) return;
  const body = clear(table.querySelector("tbody"));
  for (const row of out.items || []) {
    body.append(h("tr", {}, h("th", { scope: "row" }, name(row)),
      h("td", {}, String(count(row, "open", "open_tickets", "count"))),
      h("td", {}, String(count(row, "at_risk")))));
  }
}
