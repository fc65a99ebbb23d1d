"""Doorstep: door-to-door surveys and form collection. `create_app` is the only entry point."""
from __future__ import annotations

import os

from flask import Flask
from flask_wtf import CSRFProtect

from service import config, i18n, limits, security_headers
from service.office import clock
from service.storage import db, sealing
from service.formspec.catalog import Catalog

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH") or
                str(config.ROOT / "instance"),
                template_folder=str(config.ROOT / "templates"),
                static_folder=str(config.ROOT / "static"))
    app.config.from_mapping(config.load(app.instance_path, test_config))
    app.jinja_env.add_extension("jinja2.ext.do")
    if app.config["PROXY_HOPS"]:
        # behind nginx or a load balancer: take the client's address and scheme from the
        # X-Forwarded-* headers of exactly that many trusted proxies (rate limits, audit log)
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    sealing.init_app(app)    # refuses to start when sealed values are on record but no key is
    i18n.init_app(app)
    csrf.init_app(app)
    limits.init_app(app)
    security_headers.init_app(app)
    # Refuses to start on an invalid form definition, with one line per problem.
    app.extensions["doorstep.catalog"] = Catalog(app.config["FORMS_DIR"],
                                                app.config["FORMS_CHECK_SECONDS"])
    clock.init_app(app)

    from service import errors
    errors.init_app(app)
    from service.collect import bp as collect_bp
    app.register_blueprint(collect_bp)
    from service.collect.offline import init_compression
    init_compression(app)   # the public pages, as the phone's page-weight budget counts them
    from service.admin import bp as admin_bp
    app.register_blueprint(admin_bp)
    from service.health import bp as health_bp
    app.register_blueprint(health_bp)
    from service import api
    api.init_app(app)
    return app
