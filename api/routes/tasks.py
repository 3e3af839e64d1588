"""/_plugins/_ml/tasks: get, search, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.routes.batch import refreshed
from api.routes.search import as_is, delete_response, search_response
from api.services import services
from common.errors import MLCommonsError
from common.records import MLTaskState, to_wire

blueprint = Blueprint("tasks", __name__, url_prefix="/_plugins/_ml/tasks")
INDEX = ".plugins-ml-task"
MISSING = "Failed to find task"


@blueprint.get("/<task_id>")
def get(task_id: str) -> dict[str, Any]:
    """Return a task record as ML Commons shapes it (a batch task asks its provider first)."""
    svc = services()
    return to_wire(refreshed(svc, task_id, svc.store.tasks.require(task_id, MISSING)))


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search tasks with the query DSL."""
    return search_response(services().store.tasks.viewed(to_wire), INDEX, as_is)


@blueprint.delete("/<task_id>")
def delete(task_id: str) -> dict[str, Any]:
    """Delete a task that is not running."""
    store = services().store
    task = store.tasks.require(task_id, MISSING)
    if task.state == MLTaskState.RUNNING:
        raise MLCommonsError("Task cannot be deleted in running state. Try after some time.")
    store.tasks.delete(task_id)
    return delete_response(INDEX, task_id, found=True)
