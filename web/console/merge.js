// Keeping an agent's work when the ticket moved on the server: a three-way merge of the editable fields.

/** The fields of the details form, as values that compare with ===. */
export const FIELDS = ["title", "description", "type", "impact", "urgency", "requester_id", "assignee"];

export function fieldsOf(ticket) {
  return {
    title: ticket.title, description: ticket.description || "", type: ticket.type, impact: ticket.impact,
    urgency: ticket.urgency, requester_id: ticket.requester ? ticket.requester.id : null,
    assignee: ticket.assignee ? ticket.assignee.login : null,
  };
}

/**
 * ``base``: the fields as the agent loaded them; ``mine``: as they are in the form; ``theirs``: on the server now.
 * Returns the agent's changes to keep (they did not change on the server, or changed the same way) and the
 * conflicts (the same field changed differently on both sides): only those need asking.
 */
export function reconcile(base, mine, theirs) {
  const keep = {};
  const conflicts = [];
  for (const name of FIELDS) {
    if (mine[name] === base[name] || mine[name] === theirs[name]) continue;  // untouched, or the same change
    if (theirs[name] === base[name]) keep[name] = mine[name];
    else conflicts.push({ field: name, mine: mine[name], theirs: theirs[name] });
  }
  return { keep, conflicts };
}

/** What the agent changed: the fields of ``mine`` that differ from ``base``. */
export function changes(base, mine) {
  return Object.fromEntries(FIELDS.filter((name) => mine[name] !== base[name]).map((name) => [name, mine[name]]));
}
