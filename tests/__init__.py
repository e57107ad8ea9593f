"""helpline's test suite: tests mirror the packages (pbx/, directory/, tickets/, notify/, web/), system/ runs real
processes, support/ is what they share."""
