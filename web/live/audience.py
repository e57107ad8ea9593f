"""Who sees which live message: supervisors and admins everything; an agent their own calls' screen pop, their own
phone's state (``agent.phone``), the calls and stats of the queues they are a member of, and everything that is not
about a call in a queue or another agent's phone (``pbx.link`` included) (the whole rule is
in :mod:`web.resources.events`)."""

from __future__ import annotations

from tickets.models import Agent, Role
from web.live.message import LiveMessage
from web.live.queues import QueueRegistry

PERSONAL = frozenset({"call.ringing", "call.answered"})
#: Events about one agent's phone: to that agent (by extension) and supervisors.
OWN_PHONE = frozenset({"agent.phone"})


#: Events an agent gets only for the queues they are a member of (besides their own calls).
BY_QUEUE = frozenset({"call.offered", "call.queued", "call.ringing", "call.answered", "queue.stats"})


def concerns(message: LiveMessage, agent: Agent) -> bool:
    """Whether a personal call event is about ``agent`` (by agent id, else by extension)."""
    data = message.data
    if data.get("agent_id") is not None:
        return bool(data.get("agent_id") == agent.id)
    return bool(agent.extension) and data.get("agent_extension") == agent.extension


def for_agent(message: LiveMessage, agent: Agent, queues: QueueRegistry | None = None) -> LiveMessage | None:
    """What ``agent`` gets of ``message`` (None: nothing); ``queues``: who is in which queue (None: everybody)."""
    kind = message.type
    if Role(agent.role).rank >= Role.SUPERVISOR.rank:
        return message
    if kind in OWN_PHONE:
        return message if agent.extension and message.data.get("extension") == agent.extension else None
    if kind not in BY_QUEUE:
        return message
    if kind in PERSONAL and concerns(message, agent):
        return message
    data = message.data
    if data.get("queue") is None:  # in no queue yet: only its own agent (above) and supervisors
        return None
    if queues is not None and not queues.sees(agent.extension, agent.display_name, data.get("pbx"), data.get("queue")):
        return None
    if kind == "call.answered":  # the queue board of the others: the call left the queue
        return message.taken
    return message
