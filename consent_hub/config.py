"""Hub configuration: a TOML file plus ``CONSENT_HUB_*`` environment variables (pydantic-settings).

The file lists clusters; each cluster names its own database and its own key provider. Relative
paths (SQLite files, keyring files) are resolved against the directory of the configuration file,
so a hub directory can be moved as a whole.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from consent_hub.errors import ConfigurationError, UnknownCluster

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
DEFAULT_CONFIG = Path("var/hub.toml")
CONFIG_ENV = "CONSENT_HUB_CONFIG"


class KeyringFileKeys(BaseModel):
    """Development keyring: a JSON file with mode 0600, writable so `keys rotate` can add a version."""

    provider: Literal["keyring"] = "keyring"
    path: str


class SecretFileKeys(BaseModel):
    """Production: a keyring mounted read-only (Kubernetes / Docker secret); rotation is provisioned
    by the secret manager, the hub only re-wraps to the newest version it finds."""

    provider: Literal["secret-file"] = "secret-file"
    path: str


class EnvironmentKeys(BaseModel):
    """Production: the keyring JSON (or its base64) in an environment variable."""

    provider: Literal["env"] = "env"
    variable: str


KeySource = Annotated[KeyringFileKeys | SecretFileKeys | EnvironmentKeys, Field(discriminator="provider")]


def secret_from(inline: str | None, env: str | None, what: str) -> str:
    """A credential from the environment variable named ``env``, else the inline value (demo)."""
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigurationError(f"{what}: environment variable {env} is not set")
        return value
    if inline:
        return inline
    raise ConfigurationError(f"{what} is not configured")


class ProgramMapping(BaseModel):
    """An engine membership (joint subscription) and the program and houses it stands for."""

    model_config = ConfigDict(extra="forbid")

    program: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
    houses: list[str] = Field(min_length=1)


class ConnectorConfig(BaseModel):
    """One ticketing engine feeding this cluster. Secrets come from the environment
    (``*_env``); inline ``token`` / ``secret`` are for the demo's fake engines only."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description="tixly | ticketmatic")
    base_url: str
    token: str | None = None
    token_env: str | None = None
    access_key: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    accounts: list[str] = Field(default_factory=list, description="engine accounts; default: the houses' accounts")
    every_seconds: float = Field(default=0, ge=0, description="run on this interval while the hub serves; 0 = never")
    run_on_start: bool = False
    page_size: int = Field(default=500, ge=1, le=1000)
    lookback_seconds: int = Field(default=300, ge=0)
    start_from: dt.date = dt.date(2000, 1, 1)
    timeout_seconds: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60, ge=0)
    newsletter_purpose: str = "newsletter"
    permissions: dict[str, str] = Field(
        default_factory=dict, description="engine opt-in id -> house-scoped purpose ('' ignores it)"
    )
    programs: dict[str, ProgramMapping] = Field(default_factory=dict, description="engine membership id -> program")

    def secret_value(self, inline: str | None, env: str | None, what: str) -> str:
        return secret_from(inline, env, f"connector {what}")


class DestinationConfig(BaseModel):
    """A tool that receives consent changes, erasures and exports (a house's CRM / mailing list, a
    signed webhook). A destination serves one ``purpose`` at one ``house`` (or the whole cluster):
    only people whose consent covers it are sent as subscribed."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description="mailchimp | webhook")
    base_url: str
    house: str | None = Field(default=None, description="the house whose audience this is; none = cluster")
    purpose: str = "newsletter"
    list_id: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    max_attempts: int = Field(default=10, ge=1, le=100)
    backoff_base_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    timeout_seconds: float = Field(default=15.0, gt=0)

    def credential(self, inline: str | None, env: str | None, what: str) -> str:
        return secret_from(inline, env, f"destination {what}")


class MailConfig(BaseModel):
    """How a cluster sends mail (its own sender: each cluster mails as itself). The password comes
    from ``password_env``; an inline ``password`` is for a local catcher only."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="none (a local catcher only) | starttls | tls (implicit, port 465)"
    )
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    sender: str = Field(min_length=3, description='the From address, e.g. "Cluster Gent <privacy@gent.example.org>"')
    timeout_seconds: float = Field(default=15.0, gt=0)
    ca_file: str | None = Field(default=None, description="PEM bundle that signs the server's certificate")

    def password_value(self) -> str | None:
        if self.username is None:
            return None
        return secret_from(self.password, self.password_env, "mail password")


class BuyerConfig(BaseModel):
    """The buyer's own pages (``/my/<cluster>/``): sign-in by mailed link or code, limits, sessions."""

    model_config = ConfigDict(extra="forbid")

    public_base_url: str = Field(
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="where buyers reach the hub; every mailed link starts with it (never the request's Host)",
    )
    link_minutes: int = Field(default=15, ge=10, le=15, description="a sign-in link and its code hold this long")
    code_tries: int = Field(default=5, ge=3, le=5, description="wrong codes before the code is gone")
    session_idle_minutes: int = Field(default=30, ge=5, le=30)
    sign_in_per_address: str = Field(default="5/15 minutes", description="sign-in mails per address (limits notation)")
    sign_in_per_network: str = Field(
        default="30/15 minutes", description="sign-in attempts per client network (IPv4 /24, IPv6 /48)"
    )
    rate_limit_storage: str = Field(
        default="memory://", description="limits storage URI (redis://... for many processes)"
    )
    supervisory_authority: str = (
        "Gegevensbeschermingsautoriteit / Autorité de protection des données, https://www.gegevensbeschermingsautoriteit.be"
    )
    dpo_contact: str = Field(default="", description="the cluster DPO's address, shown with the rights")


class AnomalyRules(BaseModel):
    """The thresholds of the DPO console's anomaly rules (each shown beside what it found)."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(default=7, ge=1, le=90, description="period each rule looks at")
    peer_factor: float = Field(
        default=5.0, gt=1, description="a client reading more than this many times the median of its peers' profiles"
    )
    peer_minimum: int = Field(default=50, ge=1, description="profiles read before a client can stand out")
    house_hours: str = Field(
        default="07:00-23:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="a house's hours in the cluster's time zone; a read outside them is shown",
    )
    hours_per_house: dict[str, str] = Field(default_factory=dict, description="house slug -> HH:MM-HH:MM")
    export_factor: float = Field(default=3.0, gt=1, description="an export this many times the median export size")
    export_minimum: int = Field(default=500, ge=1, description="members an export must hold to be unusual")
    miss_burst: int = Field(default=20, ge=2, description="lookups that find nobody, by one client ...")
    miss_burst_minutes: int = Field(default=10, ge=1, description="... within this many minutes")


class ClusterConfig(BaseModel):
    display_name: str = ""
    database_url: str
    # Wrapped per-person data keys. Defaults to "<database>.keys.db" beside a SQLite database and
    # "<database>_keys" on the same PostgreSQL server; production points it at its own server.
    key_store_url: str | None = None
    keys: KeySource
    default_phone_region: str = "BE"
    time_zone: str = Field(
        default="Europe/Brussels",
        description="IANA zone of the cluster: request deadlines (GDPR Art. 12(3)) and house hours are its calendar",
    )
    anomalies: AnomalyRules = Field(default_factory=AnomalyRules)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not an IANA time zone (e.g. Europe/Brussels)") from exc
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
    connectors: dict[str, ConnectorConfig] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    outbox_every_seconds: float = Field(default=2.0, ge=0, description="worker cycle while serving; 0 = off")
    # signed checkpoints of the audit chain, made without anyone asking (see docs/audit-threat-model.md)
    audit_checkpoint_file: str | None = Field(
        default=None,
        description="append-only file of exported signed checkpoints; default audit/<cluster>.checkpoints "
        "beside the configuration (keep a copy on another machine)",
    )
    audit_checkpoint_seconds: float = Field(
        default=300.0, ge=0, description="while serving, sign the head this often when it moved; 0 = off"
    )
    audit_checkpoint_entries: int = Field(
        default=1000, ge=1, description="while serving, sign as soon as this many entries follow the last checkpoint"
    )
    # protected counts (see docs/count-privacy.md)
    count_epsilon: float = Field(
        default=0.25, gt=0, le=2, description="epsilon of each protected figure shown to a house (noise ~ 1/epsilon)"
    )
    count_budget: float = Field(
        default=20.0, gt=0, description="epsilon a house may spend on fresh figures per calendar month (UTC)"
    )
    # the buyer's own hub (issue 14): none = no buyer pages and no mail for this cluster
    mail: MailConfig | None = None
    buyer: BuyerConfig | None = None


class FakeEngineConfig(BaseModel):
    """A fake ticketing engine the hub serves beside itself (demo only)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    seed: int = 7
    size: str = "demo"
    evolve_every: float = Field(default=0, ge=0)


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_HUB_", env_nested_delimiter="__", extra="forbid")

    clusters: dict[str, ClusterConfig] = Field(default_factory=dict)
    base_dir: Path = Path(".")
    log_level: str = "INFO"
    schedule_syncs: bool = Field(default=False, description="run connector schedules in-process (`serve` sets it)")
    audit_sequencer_in_background: bool = Field(
        default=False,
        description="chain queued audit entries in a background thread woken by each commit, not in "
        "the committing request (`serve` sets it; PostgreSQL)",
    )
    fake_engines: dict[str, FakeEngineConfig] = Field(default_factory=dict)

    @field_validator("clusters")
    @classmethod
    def _slugs(cls, value: dict[str, ClusterConfig]) -> dict[str, ClusterConfig]:
        for name in value:
            if not SLUG.match(name):
                raise ValueError("cluster names are lower-case letters, digits and '-' (at most 40)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get(CONFIG_ENV) or str(DEFAULT_CONFIG)
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    def cluster(self, name: str) -> ClusterConfig:
        try:
            return self.clusters[name]
        except KeyError:
            raise UnknownCluster(f"unknown cluster {name!r}") from None

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p)

    def database_url(self, name: str) -> str:
        """The cluster's SQLAlchemy URL, with a relative SQLite path resolved against base_dir."""
        url = self.cluster(name).database_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve_path(url[len(prefix) :]))
        return url


def audit_checkpoint_path(settings: HubSettings, name: str) -> Path:
    """Where the cluster's signed checkpoints are exported (appended, never rewritten)."""
    configured = settings.cluster(name).audit_checkpoint_file
    return settings.resolve_path(configured or f"audit/{name}.checkpoints")


def key_store_url(settings: HubSettings, name: str) -> str:
    cfg = settings.cluster(name)
    if cfg.key_store_url:
        url = cfg.key_store_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(settings.resolve_path(url[len(prefix) :]))
        return url
    main = settings.database_url(name)
    if main.startswith("sqlite"):
        if main.endswith(".db"):
            return main[: -len(".db")] + ".keys.db"
        return main + ".keys"
    head, _, tail = main.rpartition("/")
    db, sep, query = tail.partition("?")
    return f"{head}/{db}_keys{sep}{query}"


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path | None = None, **overrides: Any) -> HubSettings:
    """Load the hub settings from ``path`` (or $CONSENT_HUB_CONFIG, or var/hub.toml) and the environment."""
    cfg = path or config_path()
    previous = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(cfg)
    try:
        overrides.setdefault("base_dir", cfg.resolve().parent)
        return HubSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid hub configuration ({cfg}): {problems}") from None
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = previous


def render_config(clusters: dict[str, dict[str, Any]]) -> str:
    """A hub.toml text for the given clusters (used by `consent-hub init`)."""
    lines = ["# consent-hub configuration: one section per cluster.", ""]
    for name, c in clusters.items():
        lines.append(f"[clusters.{name}]")
        lines.append(f'display_name = "{c.get("display_name", name)}"')
        lines.append(f'database_url = "{c["database_url"]}"')
        lines.append("")
        lines.append(f"[clusters.{name}.keys]")
        for k, v in c["keys"].items():
            lines.append(f'{k} = "{v}"')
        lines.append("")
    return "\n".join(lines)
