"""What every command module shares: the output consoles, the cluster option, the hub's settings and
registry, and `handled`, which turns hub errors into one line and signs the audit head after a write."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings, config_path, load_settings
from consent_hub.errors import ConfigurationError, HubError

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ClusterOpt = Annotated[str, typer.Option("--cluster", "-c", help="cluster name")]


def handled(fn: F) -> F:
    """Report hub errors as one line on stderr and a non-zero exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            head_before = _audit_head(kwargs.get("cluster"))
            result = fn(*args, **kwargs)
            _checkpoint_after(kwargs.get("cluster"), head_before)
            return result
        except HubError as exc:
            detail = exc.detail
            if isinstance(detail, list):
                detail = "; ".join(f"{d.get('field')}: {d.get('problem')}" for d in detail if isinstance(d, dict))
            err.print(f"[red]error[/red] {exc.name}: {detail}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _registry_if_configured(cluster: Any) -> ClusterRegistry | None:
    if not isinstance(cluster, str) or not config_path().exists():
        return None
    settings = hub_settings()
    return ClusterRegistry(settings) if cluster in settings.clusters else None


def _audit_head(cluster: Any) -> int | None:
    """The audit head before a command (None when the cluster has no database yet)."""
    registry = _registry_if_configured(cluster)
    if registry is None:
        return None
    from consent_hub.audit.witness import head_seq

    try:
        return head_seq(registry, cluster)
    except Exception:  # not initialised yet (`init` creates it): sign after the command if it can
        return None
    finally:
        registry.dispose()


def _checkpoint_after(cluster: Any, head_before: int | None) -> None:
    """After a command that moved a cluster's audit head, sign and export the head: a tail cut
    later is then caught by `audit verify`. A command that wrote nothing signs nothing."""
    registry = _registry_if_configured(cluster)
    if registry is None:
        return
    from consent_hub.audit.witness import checkpoint_now, head_seq

    try:
        if head_before is None or head_seq(registry, cluster) != head_before:
            checkpoint_now(registry, cluster)
    finally:
        registry.dispose()


def hub_settings() -> HubSettings:
    path = config_path()
    if not path.exists():
        raise ConfigurationError(f"no hub configuration at {path}; run `consent-hub init`")
    return load_settings(path)


def cluster_registry(cluster: str | None = None) -> ClusterRegistry:
    settings = hub_settings()
    if cluster is not None:
        settings.cluster(cluster)
    return ClusterRegistry(settings)


def uuid_argument(value: str, name: str) -> uuid.UUID:
    from consent_hub.errors import InvalidInput

    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput([{"field": name, "problem": "must be a UUID"}]) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
