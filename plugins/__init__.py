"""Built-in plugins: one package per service standard."""
