# Doorstep in a container: gunicorn (gunicorn.conf.py) serving the app from /app as a non-root
# user; all configuration from the environment (DATABASE_URL, SECRET_KEY, REDIS_URL, FORMS_DIR,
# PUBLIC_BASE_URL, WEB_CONCURRENCY, ...; see the README).
#
#   docker build -t doorstep .
#   docker run -p 8000:8000 -v doorstep-instance:/app/instance doorstep    # SQLite in the volume
#   docker compose up -d                                                    # with PostgreSQL
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Pango (with HarfBuzz) for WeasyPrint's PDF sheets, and a Chinese font so they print Chinese.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The dependencies, read from pyproject.toml alone, in their own layer: rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The application. Installed in place (-e) so that templates/, static/, forms/ and translations/
# stay next to service/; the translation catalogues are compiled here (build output, not in git).
COPY . .
RUN pip install --no-deps -e . \
 && pybabel -q compile -d translations \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin doorstep \
 && mkdir -p /app/instance \
 && chown doorstep:doorstep /app/instance

USER doorstep
# instance/: the SQLite database (when DATABASE_URL is not set) and the generated secret key
ENV INSTANCE_PATH=/app/instance \
    BIND=0.0.0.0:8000
VOLUME ["/app/instance"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["/app/docker-entrypoint.sh"]
