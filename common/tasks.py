"""Task record transitions: CREATED -> RUNNING -> COMPLETED | FAILED (deploy and batch outcomes)."""

from __future__ import annotations

from msgspec import structs

from common.batch import task_state
from common.records import FreeForm, FunctionName, MLTask, MLTaskState, MLTaskType, now_ms
from common.store import Store


def new_task(
    task_type: MLTaskType,
    *,
    is_async: bool,
    model_id: str | None = None,
    worker_node: list[str] | None = None,
    input_type: str | None = None,
) -> MLTask:
    """Return a fresh CREATED task record."""
    stamp = now_ms()
    return MLTask(
        model_id=model_id,
        task_type=task_type,
        function_name=FunctionName.REMOTE,
        state=MLTaskState.CREATED,
        input_type=input_type,
        worker_node=worker_node or [],
        create_time=stamp,
        last_update_time=stamp,
        is_async=is_async,
    )


def set_state(
    store: Store,
    task_id: str,
    state: MLTaskState,
    *,
    error: str | None = None,
    model_id: str | None = None,
    worker_node: list[str] | None = None,
) -> MLTask:
    """Move a task to a state, stamping last_update_time; final states leave the active set."""

    def change(task: MLTask) -> MLTask:
        return structs.replace(
            task,
            state=state,
            last_update_time=now_ms(),
            error=task.error if error is None else error,
            model_id=task.model_id if model_id is None else model_id,
            worker_node=task.worker_node if worker_node is None else worker_node,
        )

    task = store.tasks.update(task_id, change)
    if task.is_final:
        store.active_tasks.remove(task_id)
    return task


def set_remote_job(
    store: Store,
    task_id: str,
    remote_job: FreeForm,
    state: MLTaskState | None = None,
    *,
    worker_node: list[str] | None = None,
) -> MLTask:
    """Record a batch task's remote job as its provider last described it, and its state."""

    def change(task: MLTask) -> MLTask:
        return structs.replace(
            task,
            remote_job=remote_job,
            state=task.state if state is None else state,
            last_update_time=now_ms(),
            worker_node=task.worker_node if worker_node is None else worker_node,
        )

    return store.tasks.update(task_id, change)


def merge_remote_job(store: Store, task_id: str, described: FreeForm) -> MLTask:
    """Merge a provider's latest description of a batch task's job; its status sets the state.

    Merged in the write itself, so concurrent reads of one job never drop each other's fields.
    """

    def change(task: MLTask) -> MLTask:
        merged = {**(task.remote_job or {}), **described}
        return structs.replace(
            task,
            remote_job=merged,
            state=task_state(merged) or task.state,
            last_update_time=now_ms(),
        )

    return store.tasks.update(task_id, change)
