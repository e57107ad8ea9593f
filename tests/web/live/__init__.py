"""Live events: brokers, the event stream, queue stats."""
