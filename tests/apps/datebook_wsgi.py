"""The datebook example as a WSGI application, for the multi-process test under gunicorn (docs/deploying.md shows the same)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))

import datebook  # noqa: E402  (opens its database: KALI_DATEBOOK_DB, in each worker process)

from kali import set_error_page  # noqa: E402
from kali.wsgi import to_wsgi  # noqa: E402

# What datebook.py does only when run as a script must happen here too.
set_error_page(datebook.error_page)
application = to_wsgi(datebook.handler)
