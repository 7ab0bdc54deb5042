"""`saasync init` writes configs that load and that the connectors accept; `saasync
connectors` lists built-in connectors and entry-point plug-ins, broken ones included."""

from __future__ import annotations

import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saasync.errors import ConfigError
from saasync.init_templates import SUMMARIES
from saasync.runner import make_connector, make_destination
from saasync.settings import load_settings
from tests.e2e.conftest import RunCli

BUILTIN = sorted(SUMMARIES)


def FIXED_NOW() -> datetime:
    return datetime(2026, 11, 15, tzinfo=UTC)


def _known_options(connector: str) -> set[str]:
    """The option names the connector's own code accepts."""
    module = importlib.import_module(f"saasync_connectors.{connector}.connector")
    model = next((getattr(v, "options_model", None) for v in vars(module).values()
                  if getattr(v, "name", None) == connector and hasattr(v, "options_model")), None)
    assert model is not None, f"{connector} declares no options_model"
    return set(model.model_fields)


def _env_for(config: Path) -> dict[str, str]:
    """A value for every environment variable the config names (``*_env`` keys)."""
    names = re.findall(r'^\s*\w+_env\s*=\s*"([A-Z0-9_]+)"', config.read_text("utf-8"), re.MULTILINE)
    return {name: f"test-{name.lower()}" for name in names}


def _build(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the config and build its connector and destination exactly as a run would."""
    for name, value in _env_for(config).items():
        monkeypatch.setenv(name, value)
    exports = config.parent / "exports"  # the files connector's starter path
    exports.mkdir(exist_ok=True)
    (exports / "customers.csv").write_text("external_id,name\n", encoding="utf-8")
    settings = load_settings(config)
    name, conn = settings.connection(None)
    connector = make_connector(settings, name, conn, FIXED_NOW)
    getattr(connector, "close", lambda: None)()
    make_destination(settings, conn).close()


@pytest.mark.parametrize("destination", ["local", "chartmogul"])
@pytest.mark.parametrize("connector", BUILTIN)
def test_init_writes_loadable_config_for_each_connector(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connector: str,
    destination: str,
) -> None:  # fmt: skip
    target = tmp_path / "conf" / "saasync.toml"
    code, out, err = run_cli("init", "--connector", connector, "--destination", destination,
                             str(target))  # fmt: skip
    assert code == 0, err
    assert f"wrote {target}" in out
    settings = load_settings(target)
    name, conn = settings.connection(None)
    assert (name, conn.connector, conn.destination.type) == (connector, connector, destination)
    text = target.read_text("utf-8")
    assert not re.search(r"^\s*(api_key|token|secret|password)\s*=", text, re.MULTILINE)
    _build(target, monkeypatch)


@pytest.mark.parametrize("connector", BUILTIN)
def test_init_documents_every_option_and_each_example_value_is_accepted(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connector: str
) -> None:
    target = tmp_path / "saasync.toml"
    assert run_cli("init", "--connector", connector, str(target)).code == 0
    text = target.read_text("utf-8")
    options_part = text.split(".options]", 1)[1].split("\n[", 1)[0]
    shown = set(re.findall(r"^#? ?(\w+) = ", options_part, re.MULTILINE))
    assert shown == _known_options(connector)
    # every commented option, uncommented at the value shown, is accepted by the connector
    skip = {"base_url"} if connector == "chargebee" else set()  # site or base_url, not both
    enabled = re.sub(r"^# (\w+) = ", lambda m: m.group(0) if m.group(1) in skip
                     else f"{m.group(1)} = ", options_part, flags=re.MULTILINE)  # fmt: skip
    target.write_text(text.replace(options_part, enabled), encoding="utf-8")
    tomllib.loads(target.read_text("utf-8"))
    _build(target, monkeypatch)


def test_init_refuses_to_overwrite(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "saasync.toml"
    target.write_text("# mine\n", encoding="utf-8")
    code, _, err = run_cli("init", "--connector", "stripe", str(target))
    assert code == 2
    assert "already exists" in err and str(target) in err
    assert target.read_text("utf-8") == "# mine\n"


def test_init_unknown_connector_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("init", "--connector", "nosuch", str(tmp_path / "x.toml"))
    assert code == 2
    assert "unknown connector 'nosuch'" in err and "stripe" in err
    assert not (tmp_path / "x.toml").exists()


def test_config_errors_point_at_saasync_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="saasync init"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.a]\nconnector = "files"\ntypo = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="saasync init") as info:
        load_settings(bad)
    assert "example.toml" not in str(info.value)


# -- third-party plug-ins -----------------------------------------------------------------

PLUGIN = '''
class AcmeConnector:
    """Acme Billing's REST API (a test plug-in)."""

    name = "acme"
    OPTIONS = {"api_key_env": "variable holding the Acme key", "region": "eu or us"}

    def __init__(self, options, context):
        self.options = options

    def read(self, window):
        return iter(())
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path declaring a working and a broken connector."""
    root = tmp_path / "site"
    package = root / "acme_saasync"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "connector.py").write_text(PLUGIN, encoding="utf-8")
    (package / "BEHAVIOR.md").write_text("# acme\n", encoding="utf-8")
    (root / "acme_broken.py").write_text("raise ImportError('needs libacme 2')\n",
                                         encoding="utf-8")
    info = root / "acme_saasync-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-saasync\nVersion: 1.2\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[saasync.connectors.v1]\nacme = acme_saasync.connector:AcmeConnector\n"
        "acme_broken = acme_broken:Connector\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    for module in ("acme_saasync", "acme_saasync.connector", "acme_broken"):
        sys.modules.pop(module, None)


def test_connectors_lists_builtin_and_entry_point_plugins(run_cli: RunCli,
                                                          plugins: Path) -> None:
    code, out, err = run_cli("connectors", "--json")
    assert code == 0, err
    listed = {c["name"]: c for c in json.loads(out)}
    assert set(BUILTIN) <= set(listed)
    for name in BUILTIN:
        entry = listed[name]
        assert entry["builtin"] and entry["status"] == "ok"
        assert Path(entry["behavior"]).name == "BEHAVIOR.md" and Path(entry["behavior"]).is_file()
        assert {o["name"] for o in entry["options"]} == _known_options(name)
        assert all(o["meaning"] for o in entry["options"])
    acme = listed["acme"]
    assert (acme["builtin"], acme["status"], acme["distribution"], acme["version"]) == (
        False, "ok", "acme-saasync", "1.2")
    assert acme["options"] == [{"name": "api_key_env", "meaning": "variable holding the Acme key"},
                               {"name": "region", "meaning": "eu or us"}]
    assert acme["behavior"] == str(plugins / "acme_saasync" / "BEHAVIOR.md")
    assert acme["summary"] == "Acme Billing's REST API (a test plug-in)."
    broken = listed["acme_broken"]
    assert broken["status"] == "broken" and "needs libacme 2" in broken["error"]

    code, out, err = run_cli("connectors")
    assert code == 0, err
    assert "BROKEN" in out and "needs libacme 2" in out and "stripe" in out


def test_init_for_a_plugin_uses_its_declared_options(run_cli: RunCli, plugins: Path,
                                                     tmp_path: Path) -> None:
    target = tmp_path / "acme.toml"
    assert run_cli("init", "--connector", "acme", str(target)).code == 0
    text = target.read_text("utf-8")
    assert "# variable holding the Acme key\n# api_key_env = " in text
    assert load_settings(target).connections["acme"].connector == "acme"
    code, _, err = run_cli("init", "--connector", "acme_broken", str(tmp_path / "b.toml"))
    assert code == 2 and "needs libacme 2" in err
