"""Task record transitions: CREATED -> RUNNING -> COMPLETED | FAILED (and deploy outcomes)."""

from __future__ import annotations

from typing import Any

from common.store import TASK, Doc, Store, now_ms

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "COMPLETED_WITH_ERROR", "CANCELLED"})


def is_final(task: Doc) -> bool:
    """True once a task can no longer change."""
    return task.get("state") in FINAL_STATES


def set_state(store: Store, task_id: str, state: str, **fields: Any) -> Doc:
    """Move a task to a state, stamping last_update_time; final states leave the active set."""

    def change(task: Doc) -> Doc:
        task.update(fields)
        task["state"] = state
        task["last_update_time"] = now_ms()
        return task

    task = store.update(TASK, task_id, change)
    if state in FINAL_STATES:
        store.mark_done(task_id)
    return task


def reorder(task: Doc) -> Doc:
    """Put model_id first, as ML Commons' toXContent does."""
    if "model_id" not in task:
        return task
    return {"model_id": task["model_id"], **{k: v for k, v in task.items() if k != "model_id"}}
