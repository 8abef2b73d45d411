"""REST for schedules (crawler/service/schedules.py): refresh a crawl every N hours or at cron times.

    POST   /api/schedules          {"crawl_id": ..., "every_hours": 6} or {"crawl_id": ..., "cron": "0 3 * * *"}
    GET    /api/schedules          the session's schedules, with their next run
    DELETE /api/schedules/<id>

Owner-scoped like every crawl route: a schedule of another session's crawl is refused exactly as
a crawl that does not exist (404), and so is someone else's schedule.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from crawler.engine.config import ConfigError
from crawler.service.errors import NotRefreshable
from crawler.service.schedules import Schedules, UnknownSchedule
from crawler.web.extensions import extension
from crawler.web.routes import error
from crawler.web.sessions import ensure_session_id

blueprint = Blueprint("schedules", __name__)


def _schedules() -> Schedules:
    schedules = extension().schedules
    assert schedules is not None  # every app has them (create_app)
    return schedules


@blueprint.app_errorhandler(UnknownSchedule)
def _unknown_schedule(exc: UnknownSchedule) -> tuple[Response, int]:
    return error(str(exc.args[0]) if exc.args else "unknown schedule", 404)


@blueprint.get("/api/schedules")
def list_schedules() -> Response:
    return jsonify({"schedules": [s.public() for s in _schedules().of(ensure_session_id())]})


@blueprint.post("/api/schedules")
def create_schedule() -> tuple[Response, int]:
    example = "e.g. {\"crawl_id\": \"20261202-181500-a1b2c3\", \"every_hours\": 6}"
    data = request.get_json(silent=True) if request.is_json else None
    if data is None:
        return error(f"the request body must be a JSON object sent with Content-Type: application/json, {example}", 400)
    try:
        schedule = _schedules().create(ensure_session_id(), data)
    except NotRefreshable as exc:
        return error(str(exc), 409)
    except ConfigError as exc:
        return error(str(exc), 400)
    return jsonify(schedule.public()), 201


@blueprint.delete("/api/schedules/<schedule_id>")
def delete_schedule(schedule_id: str) -> Response:
    _schedules().delete(ensure_session_id(), schedule_id)
    return jsonify({"ok": True})
