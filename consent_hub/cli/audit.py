"""`audit`: verify the hash chain, sign checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consent_hub.cli.common import ClusterOpt, cluster_registry, err, handled, out
from consent_hub.config import audit_checkpoint_path

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@audit_app.command("verify")
@handled
def audit_verify(
    cluster: ClusterOpt,
    checkpoints: Annotated[
        Path | None, typer.Option(help="file of checkpoints exported with `audit checkpoint --export`")
    ] = None,
) -> None:
    """Recompute the hash chain and check the signed checkpoints. Exits 1 on any tampering."""
    from consent_hub.audit.service import SignedCheckpoint, verify_chain
    from consent_hub.errors import InvalidInput

    registry = cluster_registry(cluster)
    external: list[SignedCheckpoint] = []
    # the cluster's own export file (written by every automatic checkpoint), then any file named
    sources = [audit_checkpoint_path(registry.settings, cluster), *([checkpoints] if checkpoints else [])]
    for source in sources:
        if source == sources[0] and not source.exists():
            continue
        try:
            external += SignedCheckpoint.parse_many(source.read_text("utf-8"), cluster)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"cannot read checkpoints from {source.name}: {exc}") from None
    with registry.unit_of_work(cluster) as uow:
        report = verify_chain(uow.session, cluster, uow.rt.keys.audit_public_key(), external)
    if report.ok:
        out.print(
            f"audit log of cluster {cluster!r} intact: {report.entries} entries, "
            f"{report.checkpoints} signed checkpoints ({report.seconds:.2f}s)"
        )
        return
    err.print(
        f"[red]TAMPERED[/red] audit log of cluster {cluster!r}: first bad sequence number "
        f"{report.first_bad_seq}: {report.problem}",
        highlight=False,
    )
    raise typer.Exit(1)


@audit_app.command("checkpoint")
@handled
def audit_checkpoint(
    cluster: ClusterOpt,
    export: Annotated[
        Path | None,
        typer.Option(help="append the signed checkpoint to this file (keep it outside the database host)"),
    ] = None,
) -> None:
    """Sign the current head of the audit chain with the cluster's Ed25519 key."""
    from consent_hub.audit.service import SignedCheckpoint
    from consent_hub.audit.witness import checkpoint_now

    registry = cluster_registry(cluster)
    cp = checkpoint_now(registry, cluster)  # also appended to the cluster's export file
    if cp is None:
        out.print("nothing new to sign")
        return
    text = SignedCheckpoint.of(cp).to_text(cluster)
    if export is not None:
        with export.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    out.print(f"checkpoint at entry {cp.seq} signed (key {cp.key_id}):")
    print(text)
