"""What every source connector shares: the HTTP client with its error table, the stream contract
and the runner that commits each page together with its bookmark.

Error table (one place decides what a failure means):

| failure | class | what happens |
| --- | --- | --- |
| HTTP 429 | retry | wait ``Retry-After`` (or back off), then again |
| HTTP 5xx, timeout, connection error, unreadable JSON page | retry | exponential backoff with full jitter |
| HTTP 401 / 403 | fatal | authentication: the run fails, nothing more is asked |
| other HTTP 4xx | fatal | configuration (wrong URL, account, parameters) |
| one record that cannot be mapped or validated | skip | counted; logged by engine id and rule, never values |
| retries exhausted | fatal | the run fails; the next run resumes from the last committed page |
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import logging
import queue
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from connectors.sources.mapping import BadRecord
from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import ConnectorConfig
from consent_hub.errors import SyncError
from consent_hub.ingest.records import PageResult
from consent_hub.ingest.runs import SyncRunService
from consent_hub.ingest.service import IngestService

log = logging.getLogger("consent_hub.sync")
# pages at which the tables that doubled get fresh statistics (they grow fastest on a first
# sync; the check is one cheap query)
STATISTICS_CHECK_EVERY = 20


def checks_statistics(page_number: int) -> bool:
    return page_number in (3, 10) or page_number % STATISTICS_CHECK_EVERY == 0


class ErrorClass(enum.Enum):
    RETRY = "retry"
    SKIP = "skip"
    FATAL = "fatal"


class FatalSyncError(SyncError):
    """The run cannot go on (authentication, configuration, retries exhausted)."""


class RetryableError(SyncError):
    """Worth trying again (429, 5xx, timeouts, an unreadable page); ``wait`` is the server's hint."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def classify_status(status: int) -> ErrorClass | None:
    """The error table for HTTP answers; None means success."""
    if status < 400:
        return None
    if status == 429 or status >= 500:
        return ErrorClass.RETRY
    return ErrorClass.FATAL


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base: float = 0.5
    cap: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, hinted: float | None) -> float:
        """Full jitter over an exponentially growing window; a server's hint is honoured."""
        if hinted is not None:
            return min(hinted, max(self.cap, 1.0))
        return self.rng.uniform(0, min(self.cap, self.base * (2**attempt)))


class EngineHttp:
    """GETs JSON with the error table applied. Counts its retries for the run record."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        policy: RetryPolicy,
        headers: Callable[[str], dict[str, str]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.headers = headers or (lambda _path: {})
        self.client = httpx.Client(timeout=timeout, transport=transport, headers={"Accept": "application/json"})
        self.retries = 0

    def close(self) -> None:
        self.client.close()

    def take_retries(self) -> int:
        n, self.retries = self.retries, 0
        return n

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = self.url(path)
        last = "no attempt made"
        for attempt in range(self.policy.max_attempts):
            try:
                return self._once(url, params)
            except RetryableError as exc:
                last = exc.reason
                if attempt + 1 >= self.policy.max_attempts:
                    break
                self.retries += 1
                wait = self.policy.delay(attempt, exc.wait)
                log.warning("engine request failed (%s); retry %d in %.2fs", exc.reason, attempt + 1, wait)
                self.policy.sleep(wait)
        raise FatalSyncError(f"giving up after {self.policy.max_attempts} attempts: {last}")

    def _once(self, url: str, params: dict[str, Any] | None) -> Any:
        path = httpx.URL(url).path
        try:
            response = self.client.get(url, params=params, headers=self.headers(path))
        except httpx.TimeoutException:
            raise RetryableError("timeout") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"connection failed ({type(exc).__name__})") from None
        kind = classify_status(response.status_code)
        if kind is ErrorClass.RETRY:
            wait = retry_after_seconds(response.headers.get("Retry-After")) if response.status_code == 429 else None
            raise RetryableError(f"HTTP {response.status_code}", wait)
        if kind is ErrorClass.FATAL:
            what = "authentication refused" if response.status_code in (401, 403) else "request refused"
            raise FatalSyncError(f"engine {what} (HTTP {response.status_code} on {path})")
        try:
            return response.json()
        except ValueError:
            raise RetryableError("unreadable JSON page") from None


@dataclass
class Page:
    """Raw records of one engine page, in cursor order."""

    records: list[dict[str, Any]]


@dataclass
class MappedRecords:
    """A page mapped to hub records: ``batch`` is what the stream writes, ``skipped`` the records
    that could not be mapped, ``reached`` the latest record time read."""

    batch: list[Any]
    skipped: PageResult
    reached: dt.datetime | None


def map_records(
    page: Page, key: str, record_time: Callable[[dict[str, Any]], dt.datetime], mapper: Callable[[dict[str, Any]], Any]
) -> MappedRecords:
    """Map each raw record; one that cannot be mapped is skipped by its engine id and rule."""
    mapped: list[Any] = []
    skipped = PageResult()
    reached: dt.datetime | None = None
    for raw in page.records:
        try:
            when = record_time(raw)
            reached = when if reached is None else max(reached, when)
        except BadRecord:
            pass
        try:
            mapped.append(mapper(raw))
        except BadRecord as exc:
            skipped.skip(str(raw.get(key, "?"))[:64], f"malformed record: {exc}")
    return MappedRecords(mapped, skipped, reached)


def with_skipped(result: PageResult, mapped: MappedRecords) -> tuple[PageResult, dt.datetime | None]:
    """A written page's result with the records its mapping skipped, and its latest time."""
    result.read += len(mapped.skipped.skipped)
    result.skipped = mapped.skipped.skipped + result.skipped
    return result, mapped.reached


class Progress(Protocol):
    def stream_started(self, stream: str, total: int | None) -> None: ...
    def page_committed(self, stream: str, result: PageResult) -> None: ...


class NoProgress:
    def stream_started(self, stream: str, total: int | None) -> None:
        return None

    def page_committed(self, stream: str, result: PageResult) -> None:
        return None


@dataclass
class SyncContext:
    """What a stream may know about the hub: the connector's config and the house mapping."""

    connector: str
    config: ConnectorConfig
    upper_bound: dt.datetime
    houses: dict[str, str]  # engine organisation / account -> house slug


class Stream(ABC):
    """A stream declares its name, its record key and its cursor; ``pages`` reads the engine from
    ``since`` up to the frozen upper bound, ``apply`` writes one page through the ingest service
    and returns the highest cursor value it applied."""

    name: str
    key: str
    cursor_field: str | None  # None: a full refresh on every run
    source: str
    partition: str = ""

    def total(self, http: EngineHttp, since: dt.datetime | None, ctx: SyncContext) -> int | None:
        return None

    @abstractmethod
    def pages(self, http: EngineHttp, since: dt.datetime | None, ctx: SyncContext) -> Iterator[Page]: ...

    @abstractmethod
    def apply(self, ingest: IngestService, page: Page, ctx: SyncContext) -> tuple[PageResult, dt.datetime | None]: ...


class Source(ABC):
    """A configured engine connection: its HTTP client and its streams, in dependency order."""

    def __init__(self, name: str, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.name = name
        self.config = config
        self.transport = transport

    @abstractmethod
    def http(self, policy: RetryPolicy) -> EngineHttp: ...

    @abstractmethod
    def house_column(self) -> str:
        """The house-table column that holds this engine's organisation / account reference."""

    @abstractmethod
    def streams(self, http: EngineHttp, ctx: SyncContext) -> Sequence[Stream]: ...


_DONE = object()


def prefetched(pages: Iterator[Page]) -> Iterator[Page]:
    """Fetch the next page in a thread while the caller applies this one: the HTTP wait and the
    database work overlap. At most one page waits; an error of the fetch is raised here, in
    order; a caller that stops early stops the fetching too."""
    box: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    worker = threading.Thread(target=produce, name="page-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def parse_cursor(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass
class RunOutcome:
    run_id: uuid.UUID
    status: str
    totals: PageResult
    error: str | None = None


class SyncRunner:
    """Runs every stream of a source once: each page's rows, its bookmark and the run's counters
    are committed in one unit of work, so a run killed at any moment resumes from its last
    committed page (re-reading the look-back window, which the idempotent upserts absorb)."""

    def __init__(
        self,
        registry: ClusterRegistry,
        cluster: str,
        source: Source,
        *,
        trigger: str = "cli",
        progress: Progress | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.registry = registry
        self.cluster = cluster
        self.source = source
        self.trigger = trigger
        self.progress = progress or NoProgress()
        cfg = source.config
        self.policy = policy or RetryPolicy(cfg.max_attempts, cfg.backoff_base_seconds, cfg.backoff_max_seconds)
        self.actor = Actor.system(cluster, f"sync:{source.name}")

    def _uow(self) -> Any:
        return self.registry.unit_of_work(self.cluster)

    def run(self) -> RunOutcome:
        upper = utcnow()
        with self._uow() as uow:
            run_id = SyncRunService(uow).start(self.actor, self.source.name, trigger=self.trigger, upper_bound=upper).id
            houses = IngestService(uow, self.actor, self.source.name).houses_by_engine_ref(self.source.house_column())
        ctx = SyncContext(self.source.name, self.source.config, upper, houses)
        totals = PageResult()
        http = self.source.http(self.policy)
        status, error = "succeeded", None
        try:
            for stream in self.source.streams(http, ctx):
                self._stream(stream, http, ctx, run_id, totals)
        except FatalSyncError as exc:
            status, error = "failed", str(exc.detail)
        except BaseException:
            self._finish(run_id, "interrupted", "the run was stopped")
            raise
        finally:
            http.close()
        self._finish(run_id, status, error)
        return RunOutcome(run_id, status, totals, error)

    def _finish(self, run_id: uuid.UUID, status: str, error: str | None) -> None:
        with self._uow() as uow:
            SyncRunService(uow).finish(self.actor, run_id, status, error=error)

    def _stream(
        self, stream: Stream, http: EngineHttp, ctx: SyncContext, run_id: uuid.UUID, totals: PageResult
    ) -> None:
        since: dt.datetime | None = None
        if stream.cursor_field is not None:
            with self._uow() as uow:
                stored = parse_cursor(
                    IngestService(uow, self.actor, stream.source).cursor(
                        self.source.name, stream.name, stream.partition
                    )
                )
            start = dt.datetime.combine(ctx.config.start_from, dt.time(), dt.UTC)
            since = max(start, stored - dt.timedelta(seconds=ctx.config.lookback_seconds)) if stored else start
        self.progress.stream_started(stream.name, stream.total(http, since, ctx))
        for number, page in enumerate(prefetched(stream.pages(http, since, ctx)), start=1):
            with self._uow() as uow:
                ingest = IngestService(uow, self.actor, stream.source)
                if checks_statistics(number):
                    ingest.refresh_statistics()
                result, reached = stream.apply(ingest, page, ctx)
                if stream.cursor_field is not None and reached is not None:
                    current = parse_cursor(ingest.cursor(self.source.name, stream.name, stream.partition))
                    if current is None or reached > current:
                        ingest.put_cursor(self.source.name, stream.name, stream.partition, reached.isoformat())
                SyncRunService(uow).page_done(run_id, stream.name, result, retries=http.take_retries())
            for skip in result.skipped:
                log.info("skipped %s record %s: %s", stream.name, skip.ref, skip.reason)
            totals.merge(result)
            self.progress.page_committed(stream.name, result)


def run_sync(
    build: Callable[[str, ConnectorConfig], Source],
    registry: ClusterRegistry,
    cluster: str,
    name: str,
    config: ConnectorConfig,
    *,
    trigger: str = "cli",
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> RunOutcome:
    """The entry point every source connector exposes (see pyproject.toml)."""
    return SyncRunner(registry, cluster, build(name, config), trigger=trigger, progress=progress, policy=policy).run()
