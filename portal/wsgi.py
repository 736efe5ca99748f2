"""The WSGI app gunicorn serves (``portal.wsgi:app``)."""

import gc

from portal import create_app

app = create_app()

# What the app holds for its whole life (modules, mappers, compiled templates, plugins: about 140,000 objects)
# is moved out of the collector's reach: otherwise each full collection walks all of it, a pause of about
# 50 ms holding the interpreter lock, once every thousand requests or so, for every thread of the worker.
gc.freeze()
