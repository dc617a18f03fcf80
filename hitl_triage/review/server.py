"""Running the web app with uvicorn (``hitl-triage serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig


def serve(config: TaskConfig, *, host: str | None = None, port: int | None = None) -> None:
    """Open the task's store (creating or upgrading it) and serve the app until interrupted.

    Binds ``review.host`` (127.0.0.1 by default): put a TLS proxy in front before exposing it,
    and set ``review.cookie_secure: true`` there.

    Raises:
        StoreError: the store cannot be opened.
    """
    import uvicorn

    from hitl_triage.review.app import create_app
    from hitl_triage.store import open_store

    store = open_store(config)  # fail early, before the server starts
    app = create_app(config, store=store)
    try:
        uvicorn.run(
            app,
            host=host or config.review.host,
            port=port or config.review.port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
    finally:
        store.close()
