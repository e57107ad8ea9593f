"""Alerting: Twilio SMS and Slack channels, on-call schedules, escalation, the outbox and its dispatcher."""
