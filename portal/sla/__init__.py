"""SLA clocks: deadlines and states computed from a standard's table data."""
