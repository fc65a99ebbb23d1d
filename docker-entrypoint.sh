#!/bin/sh
# The container's entry: create or upgrade the database and publish the forms (`doorstep init`,
# harmless when there is nothing to do), then hand the process to gunicorn (exec: it receives the
# container's signals and stops gracefully). Given a command, runs that instead, e.g.
#   docker compose run --rm doorstep doorstep users create --username li --role manager --area SQ1
#
# Retention (each form's retention_days) is kept by `doorstep purge`, run once a day by the host's
# cron in the running container (it erases in short batches while the service serves):
#   15 3 * * *  cd /srv/doorstep && docker compose exec -T doorstep doorstep purge >> purge.log 2>&1
# (`--dry-run` first to see the counts). Backups the same way, one per weekday in the volume
# (one cron line; copy the backup files off the machine, not the whole volume: it holds the keys):
#   30 3 * * *  cd /srv/doorstep && docker compose exec -T doorstep doorstep backup --out "/app/instance/backup-$(date +\%a).db"
# With compose's PostgreSQL 16 this image has no pg_dump of that version (Debian's is 15): use the
# db container's own, as the README says ("Backups").
set -eu
cd "$(dirname "$0")"
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
doorstep init
exec gunicorn -c gunicorn.conf.py 'service:create_app()'
