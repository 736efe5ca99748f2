"""The WSGI app gunicorn serves (``portal.wsgi:app``)."""

from portal import create_app

app = create_app()
