"""The product's wheel holds no test double: the fakes and the demo seeding are their own distribution
(consent-hub-fakes, in fakes/), and the hub without them says the demo needs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consent_hub import plugins
from consent_hub.cli import app
from consent_hub.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
# what a build may not pick up: the virtual environment, caches, earlier build output, local data
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "var", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def _build_wheel(tmp_path: Path) -> Path:
    """The consent-hub wheel built from a clean copy of the repository (a build in the working tree
    would reuse build/lib, where files of an earlier layout can linger)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    out = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = out.glob("consent_hub-*.whl")
    return wheel


def test_the_wheel_holds_no_fake_and_no_demo(tmp_path: Path) -> None:
    with zipfile.ZipFile(_build_wheel(tmp_path)) as archive:
        names = archive.namelist()
        (entry_points_txt,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        announced = archive.read(entry_points_txt).decode()
    assert any(name.startswith("consent_hub/") for name in names)  # the build did produce the product
    assert any(name.startswith("connectors/sources/") for name in names)
    modules = [name for name in names if name.endswith(".py")]
    assert not [m for m in modules if m.startswith("fakes/") or "/fakes/" in m], "a fake is in the wheel"
    assert not [m for m in modules if Path(m).stem == "demo" or "/demo/" in m], "a demo module is in the wheel"
    assert "fakes" not in announced and "fake-engine" not in announced and "consent_hub.demo" not in announced


def test_the_fakes_announce_the_demo_and_the_fake_engines() -> None:
    assert {ep.name for ep in entry_points(group=plugins.DEMO)} >= {"seed", "sync_config"}
    assert {ep.name for ep in entry_points(group=plugins.FAKE_ENGINES)} >= {"tixly", "ticketmatic", "mailchimp"}
    assert all(ep.value.startswith("fakes.") for ep in entry_points(group=plugins.FAKE_ENGINES))
    assert callable(plugins.demo_seeder()) and callable(plugins.demo_sync_config())


@pytest.fixture
def without_the_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed entry points, less those of the fakes' distribution."""
    real = entry_points

    def installed(*, group: str) -> list[EntryPoint]:
        return [ep for ep in real(group=group) if not ep.value.startswith("fakes.")]

    monkeypatch.setattr(plugins, "entry_points", installed)


@pytest.mark.usefixtures("without_the_fakes")
def test_the_demo_without_the_fakes_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="consent-hub-fakes"):
        plugins.demo_seeder()
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(tmp_path / "var" / "hub.toml"))
    result = CliRunner().invoke(app, ["init", "--cluster", "demo", "--demo"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)  # an answer, not a traceback
    assert "the demo needs the fakes package (consent-hub-fakes)" in " ".join(result.output.split())
    assert not (tmp_path / "var" / "hub.toml").exists()  # nothing half-written
    assert CliRunner().invoke(app, ["init", "--cluster", "demo"]).exit_code == 0  # the hub itself needs no fake
