"""Service level agreements: business calendars, policies, clocks per ticket, and the scheduler that fires
warnings and breaches when they are due."""
