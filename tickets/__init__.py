"""The ticket domain: tickets, people, agents, the activity log (later calls and SLA clocks)."""
