"""Hub configuration: file plus environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent_hub.config import key_store_url, load_settings, render_config
from consent_hub.errors import ConfigurationError, UnknownCluster


def write(tmp_path: Path, clusters: dict) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(render_config(clusters), encoding="utf-8")
    return path


def test_file_lists_clusters_and_paths_resolve_beside_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "gent": {
                "database_url": "sqlite:///clusters/gent.db",
                "keys": {"provider": "keyring", "path": "keys/gent.json"},
            }
        },
    )
    settings = load_settings(path)
    assert settings.database_url("gent") == f"sqlite:///{tmp_path}/clusters/gent.db"
    assert key_store_url(settings, "gent") == f"sqlite:///{tmp_path}/clusters/gent.keys.db"
    with pytest.raises(UnknownCluster):
        settings.cluster("zender")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        {
            "gent": {
                "database_url": "sqlite:///clusters/gent.db",
                "keys": {"provider": "keyring", "path": "keys/gent.json"},
            }
        },
    )
    monkeypatch.setenv("CONSENT_HUB_CLUSTERS__GENT__DATABASE_URL", "postgresql://hub@db.invalid/gent")
    settings = load_settings(path)
    assert settings.database_url("gent") == "postgresql://hub@db.invalid/gent"
    assert key_store_url(settings, "gent") == "postgresql://hub@db.invalid/gent_keys"


@pytest.mark.parametrize(
    "clusters",
    [
        {"Bad_Name": {"database_url": "sqlite:///x.db", "keys": {"provider": "keyring", "path": "k"}}},
        {"gent": {"database_url": "sqlite:///x.db", "keys": {"provider": "vault", "path": "k"}}},
        '[clusters.gent.keys]\nprovider = "keyring"\npath = "k"\n',  # no database_url
    ],
)
def test_invalid_configuration_is_a_clear_error(tmp_path: Path, clusters: dict | str) -> None:
    if isinstance(clusters, str):
        path = tmp_path / "hub.toml"
        path.write_text(clusters, encoding="utf-8")
    else:
        path = write(tmp_path, clusters)
    with pytest.raises(ConfigurationError) as info:
        load_settings(path)
    assert "invalid hub configuration" in str(info.value)
