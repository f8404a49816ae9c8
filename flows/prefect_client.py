"""This process's Prefect client: what must happen before the API it talks to goes away."""


def drain_client_workers() -> None:
    """Flush this process's queued Prefect logs and events; call before its server stops, or exit retries for minutes."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    # The same order as prefect.testing.utilities.prefect_test_harness on exit.
    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:
            pass  # never started
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
