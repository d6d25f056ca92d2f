"""The OpenLineage listener of the provider, pointed at a local HTTP receiver for one test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from tests.receivers import HttpReceiver, http_receiver


def _clear_provider_caches() -> None:
    import functools

    from airflow.providers.openlineage import conf as ol_conf

    for value in vars(ol_conf).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()


@contextlib.contextmanager
def openlineage_to_receiver(monkeypatch) -> Iterator[HttpReceiver]:
    """What a deployment sets (``AIRFLOW__OPENLINEAGE__TRANSPORT``, an HTTP transport), with the listener
    registered as the provider's plugin registers it (the provider caches its settings per process, so
    they are cleared before and after)."""
    from airflow.listeners.listener import get_listener_manager
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager as task_listener_manager

    with http_receiver() as receiver:
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(
            {"type": "http", "url": receiver.url, "endpoint": "api/v1/lineage"}))
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "auralink-test")
        _clear_provider_caches()
        listener = get_openlineage_listener()
        listener.adapter._client = None  # built again from the transport above
        added = []
        for manager in (get_listener_manager(), task_listener_manager()):
            if not manager.pm.is_registered(listener):
                manager.add_listener(listener)
                added.append(manager)
        try:
            yield receiver
        finally:
            for manager in added:
                manager.pm.unregister(listener)
            listener.adapter._client = None
            monkeypatch.delenv("AIRFLOW__OPENLINEAGE__TRANSPORT")
            _clear_provider_caches()


def events_by_job(receiver: HttpReceiver) -> dict[str, list[dict]]:
    """job name -> its run events, in arrival order."""
    out: dict[str, list[dict]] = {}
    for event in receiver.json_bodies():
        out.setdefault(event.get("job", {}).get("name", ""), []).append(event)
    return out
