"""Tests of the campus card plugin."""
