"""Live events for the console: domain events -> a broker (in-process, or Redis) -> Server-Sent Events per agent."""
