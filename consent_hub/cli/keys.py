"""`keys`: the cluster's key-encryption keys (status, rotation, retirement)."""

from __future__ import annotations

from typing import Annotated

import typer

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, out, progress_bar

keys_app = typer.Typer(help="Cluster keys.", no_args_is_help=True)


@keys_app.command("status")
@handled
def keys_status(cluster: ClusterOpt) -> None:
    """KEK versions and how many data keys each wraps."""
    from consent_hub.keys.rotation import key_status

    status = key_status(cluster_registry(cluster), cluster)
    out.print(status)


@keys_app.command("rotate")
@handled
def keys_rotate(
    cluster: ClusterOpt,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 2000,
) -> None:
    """Re-wrap every data key under a new KEK version (resumes an interrupted rotation)."""
    from consent_hub.keys.rotation import rotate

    registry = cluster_registry(cluster)
    with progress_bar() as progress:
        task = progress.add_task(f"re-wrapping data keys of {cluster}", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = rotate(registry, cluster, Actor.cli(cluster), batch_size=batch_size, progress=report)
    what = "started" if result.started_new_version else "resumed"
    out.print(
        f"rotation to KEK version {result.version} {what}: {result.rewrapped} data keys re-wrapped; "
        f"data keys per KEK version now {result.by_version}"
    )


@keys_app.command("retire")
@handled
def keys_retire(cluster: ClusterOpt, version: Annotated[int, typer.Option(help="old KEK version")]) -> None:
    """Remove an old KEK version from the keyring once no data key uses it."""
    from consent_hub.keys.rotation import retire

    retire(cluster_registry(cluster), cluster, Actor.cli(cluster), version)
    out.print(f"KEK version {version} of cluster {cluster!r} retired")
