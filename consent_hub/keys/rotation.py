"""KEK rotation: re-wrap every person's data key under the newest KEK version.

Field ciphertexts are untouched (they are sealed with the data keys, which do not change). Each
batch commits on its own with its audit entry, so an interrupted rotation resumes where it
stopped: whatever is not yet on the current version is simply the remaining work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry
from consent_hub.errors import KeyringError
from consent_hub.keys.repository import KeyStoreRepository

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class RotationResult:
    version: int
    started_new_version: bool
    rewrapped: int
    by_version: dict[int, int]


def key_status(registry: ClusterRegistry, cluster: str) -> dict[str, object]:
    with registry.unit_of_work(cluster) as uow:
        counts = KeyStoreRepository(uow.key_session).count_by_version()
        return {
            "current_kek": uow.rt.keys.current_kek_version(),
            "kek_versions": uow.rt.keys.kek_versions(),
            "data_keys_by_kek": counts,
        }


def rotate(
    registry: ClusterRegistry,
    cluster: str,
    actor: Actor,
    *,
    batch_size: int = 2000,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> RotationResult:
    rt = registry.runtime(cluster)
    provider = rt.keys
    with registry.unit_of_work(cluster) as uow:
        counts = KeyStoreRepository(uow.key_session).count_by_version()
    current = provider.current_kek_version()
    behind = sum(n for v, n in counts.items() if v != current)
    started_new = False
    if behind == 0:
        current = provider.add_kek_version()  # raises KeyringError for read-only providers
        started_new = True
        with registry.unit_of_work(cluster) as uow:
            AuditLog(uow.session, cluster).append(actor, AuditRecord("key.kek.create", detail={"kek_version": current}))
        behind = sum(counts.values())
    done = 0
    batches = 0
    if progress:
        progress(0, behind)
    while True:
        with registry.unit_of_work(cluster) as uow:
            audit = AuditLog(uow.session, cluster)
            repo = KeyStoreRepository(uow.key_session)
            # the audit head lock is taken first: one rotation batch at a time per cluster
            audit.repo.lock_head()
            batch = repo.batch_not_on(current, batch_size)
            if not batch:
                break
            now = utcnow()
            rows = []
            from_versions: dict[int, int] = {}
            for key in batch:
                data_key = provider.unwrap_data_key(bytes(key.wrapped_key), key.person_id.bytes, key.kek_version)
                rows.append(
                    {
                        "pid": key.person_id,
                        "v": current,
                        "w": provider.wrap_data_key(data_key, key.person_id.bytes, current),
                        "at": now,
                    }
                )
                from_versions[key.kek_version] = from_versions.get(key.kek_version, 0) + 1
            repo.rewrap(rows)
            audit.append(
                actor,
                AuditRecord(
                    "key.rewrap",
                    detail={
                        "to_kek_version": current,
                        "count": len(rows),
                        "from_kek_versions": {str(k): v for k, v in sorted(from_versions.items())},
                    },
                ),
            )
        done += len(rows)
        batches += 1
        if progress:
            progress(done, behind)
        if stop_after_batches is not None and batches >= stop_after_batches:
            break
    with registry.unit_of_work(cluster) as uow:
        final = KeyStoreRepository(uow.key_session).count_by_version()
    return RotationResult(current, started_new, done, final)


def retire(registry: ClusterRegistry, cluster: str, actor: Actor, version: int) -> None:
    """Delete an old KEK version from the keyring once no data key depends on it."""
    with registry.unit_of_work(cluster) as uow:
        counts = KeyStoreRepository(uow.key_session).count_by_version()
        if counts.get(version):
            raise KeyringError(
                f"{counts[version]} data keys still use KEK version {version}; finish `keys rotate` first"
            )
        uow.rt.keys.retire_kek_version(version)
        AuditLog(uow.session, cluster).append(actor, AuditRecord("key.kek.retire", detail={"kek_version": version}))
