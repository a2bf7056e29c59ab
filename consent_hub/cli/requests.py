"""`requests`: the data-subject request desk from the hub host (the register, the overdue and
due-soon lists, each step of handling a request), as the CLI operator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, out

if TYPE_CHECKING:
    from consent_hub.requests.service import RequestsService, RequestView

requests_app = typer.Typer(help="Data-subject requests (GDPR Art. 15-21) and their deadlines.", no_args_is_help=True)

Reference = Annotated[str, typer.Argument(help="register reference, e.g. DSR-ABCD-EFGH")]


def _with_desk(cluster: str, act: Callable[[RequestsService, Actor], Any]) -> Any:
    from consent_hub.requests.service import RequestsService

    registry = cluster_registry(cluster)
    try:
        with registry.unit_of_work(cluster) as uow:
            return act(RequestsService(uow), Actor.cli(cluster))
    finally:
        registry.dispose()


def _line(v: RequestView) -> str:
    late = "OVERDUE " if v.overdue else ""
    parts = ", ".join(f"{p.house}:{p.status}" for p in v.parts) or "-"
    due = f"due {v.due_on.isoformat()} ({late}{v.days_left} days)"
    return f"{v.reference}  {v.kind:<13} {v.status:<18} {due}  parts {parts}"


@requests_app.command("list")
@handled
def requests_list(
    cluster: ClusterOpt,
    due: Annotated[str | None, typer.Option(help="overdue | soon (within 7 days)")] = None,
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="closed requests too")] = False,
) -> None:
    """The register, soonest deadline first."""
    views = _with_desk(
        cluster, lambda desk, actor: desk.queue(actor, due=due, status=status, include_closed=include_closed, limit=500)
    )
    for v in views:
        out.print(_line(v))
    out.print(f"{len(views)} request(s)")


@requests_app.command("show")
@handled
def requests_show(cluster: ClusterOpt, reference: Reference) -> None:
    """One request with its parts and steps."""
    v = _with_desk(cluster, lambda desk, actor: desk.get(actor, reference))
    out.print(_line(v))
    for s in v.steps:
        out.print(f"  {s.at.isoformat()}  {s.step:<18} {s.status:<18} {s.actor}  {s.note}")


@requests_app.command("register")
@handled
def requests_register(
    cluster: ClusterOpt,
    kind: Annotated[str, typer.Option(help="access | portability | rectification | erasure | restriction | objection")],
    email: Annotated[str, typer.Option(help="the person's address (found through the blind index)")],
    channel: Annotated[str, typer.Option(help="mail | box-office | api")] = "mail",
    house: Annotated[str | None, typer.Option(help="the house it was addressed to")] = None,
    verified_note: Annotated[str | None, typer.Option(help="how the identity was checked (no personal data)")] = None,
    language: Annotated[str, typer.Option(help="nl | en | fr: the language of the mails")] = "nl",
) -> None:
    """Register a request received by mail or at the counter (a receipt is mailed)."""
    v = _with_desk(
        cluster,
        lambda desk, actor: desk.register(
            actor, kind=kind, channel=channel, email=email, house=house, verified_note=verified_note, language=language
        ),
    )
    out.print(_line(v))


@requests_app.command("verify")
@handled
def requests_verify(cluster: ClusterOpt, reference: Reference, note: Annotated[str, typer.Option()]) -> None:
    out.print(_line(_with_desk(cluster, lambda desk, actor: desk.verify(actor, reference, note=note))))


@requests_app.command("extend")
@handled
def requests_extend(
    cluster: ClusterOpt,
    reference: Reference,
    months: Annotated[int, typer.Option(min=1, max=2)],
    reason: Annotated[str, typer.Option(help="mailed to the person (no personal data)")],
) -> None:
    """Extend by one or two months (before the first month ends); the reason is mailed."""
    out.print(
        _line(_with_desk(cluster, lambda desk, actor: desk.extend(actor, reference, months=months, reason=reason)))
    )


@requests_app.command("execute")
@handled
def requests_execute(cluster: ClusterOpt, reference: Reference) -> None:
    """Carry the request out through the hub's path for its kind."""
    out.print(_line(_with_desk(cluster, lambda desk, actor: desk.execute(actor, reference))))


@requests_app.command("sign-off")
@handled
def requests_sign_off(
    cluster: ClusterOpt,
    reference: Reference,
    house: Annotated[str, typer.Option(help="the house whose part is signed off")],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    out.print(_line(_with_desk(cluster, lambda desk, actor: desk.sign_off(actor, reference, house=house, note=note))))


@requests_app.command("refuse")
@handled
def requests_refuse(
    cluster: ClusterOpt, reference: Reference, reason: Annotated[str, typer.Option(help="mailed with the DPA right")]
) -> None:
    out.print(_line(_with_desk(cluster, lambda desk, actor: desk.refuse(actor, reference, reason=reason))))
