"""SLA: business calendars, clocks, the scheduler."""
