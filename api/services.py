"""What views need, built once per app from Settings and reached through current_app."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from api.access import AccessClock
from api.dispatcher import Dispatcher
from api.listener import ReplyListener
from common.cluster_settings import ClusterSettings, effective
from common.crypto import CredentialCipher
from common.keyring import open_cipher
from common.queueing import create_celery
from common.records import Node
from common.settings import Settings
from common.store import Store, connect_for_blocking, open_store
from common.view import ClusterView


@dataclass
class Services:
    """The API process's handles: Redis, the cipher, Celery, its view, dispatcher and inbox."""

    settings: Settings
    store: Store
    celery: Celery
    view: ClusterView
    dispatcher: Dispatcher
    listener: ReplyListener
    access: AccessClock
    _cipher: CredentialCipher | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Build the handles; nothing connects until first use."""
        store = open_store(settings, blocking=True)
        return cls(
            settings=settings,
            store=store,
            celery=create_celery(settings),
            view=ClusterView(store, subscriber=connect_for_blocking(settings.require_redis_url())),
            dispatcher=Dispatcher(store.predicts),
            listener=ReplyListener(store.replies),
            access=AccessClock(store.model_access),
        )

    @property
    def cipher(self) -> CredentialCipher:
        """The credential cipher over the master key file or MODELGATE_MASTER_KEY (the key
        file is created on a cluster's first need)."""
        if self._cipher is None:
            self._cipher = open_cipher(self.settings, self.store.master_key)
        return self._cipher

    def cluster(self) -> ClusterSettings:
        """Read the effective cluster settings (one round trip; every process sees changes)."""
        return effective(*self.store.cluster_settings.read())

    def nodes(self) -> list[Node]:
        """Return every announced worker node."""
        return self.store.nodes.all()


def services() -> Services:
    """Return the current app's Services."""
    found = current_app.extensions["modelgate"]
    assert isinstance(found, Services)
    return found
