"""Work orders: the lifecycle of a fault or service request, its timeline and its SLA clocks."""
