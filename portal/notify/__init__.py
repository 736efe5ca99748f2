"""Notifications about SLA clocks: e-mail over SMTP and SMS through the ``portal_send_sms`` hook."""
