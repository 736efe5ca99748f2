"""Tests of the police kiosk plugin (DB12/T 1060—2021)."""
