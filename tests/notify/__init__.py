"""Alerting: schedules, texts, escalation, the outbox, inbound acknowledgements."""
