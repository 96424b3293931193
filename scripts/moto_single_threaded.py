"""A moto server that handles one request at a time.

moto's default server is multi-threaded and its conditional writes are then not atomic
(two winners for one conditional update). Real DynamoDB never does that, so DynamoDB
tests talk to this single-threaded server. Usage: moto_single_threaded.py HOST PORT
"""
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, use_reloader=False, use_debugger=False)
