"""The core's own pages (home) and the hooks it registers as an internal plugin."""
