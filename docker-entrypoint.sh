#!/bin/sh
# The container's entry: create or upgrade the database and publish the forms (`doorstep init`,
# harmless when there is nothing to do), then hand the process to gunicorn (exec: it receives the
# container's signals and stops gracefully). Given a command, runs that instead, e.g.
#   docker compose run --rm doorstep doorstep users create --username li --role manager --area SQ1
set -eu
cd "$(dirname "$0")"
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
doorstep init
exec gunicorn -c gunicorn.conf.py 'service:create_app()'
