"""The pilot's launch options have one definition (protocol.pilot_options.PilotOptions): the `panda pilot`
flags, the pilot's PilotConfig and the factory's [factory.pilot]/[queue.pilot] keys all follow it. Each
test sets every option to a non-default value, so a copy that lacks a field fails here."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

import pandawms.pilot
from pandawms.cli.main import app
from pandawms.factory.config import parse_factory_config
from pandawms.pilot.config import PilotConfig
from pandawms.protocol.pilot_options import DEFAULTS, PilotOptions, flag, public_name

PILOT_OWN_FLAGS = {"--queue", "--server", "--workdir", "--worker-id"}  # where the pilot runs, not options


def _changed(kind: object, default: object) -> Any:
    if kind is float:
        assert isinstance(default, float)
        return default + 1.5
    if kind is int:
        assert isinstance(default, int)
        return default + 2
    if kind == Path | None:
        return Path("/srv/se-test")
    if kind == str | None:
        return "managed"
    raise AssertionError(f"add a non-default value for options of type {kind!r} to this test")


def every_option_changed() -> PilotOptions:
    hints = get_type_hints(PilotOptions)
    values = {f.name: _changed(hints[f.name], f.default) for f in fields(PilotOptions)}
    options = PilotOptions(**values)
    assert all(getattr(options, f.name) != f.default for f in fields(PilotOptions))
    return options


def _pilot_flags() -> dict[str, typer.core.TyperOption]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    params = group.commands["pilot"].params
    return {p.opts[0]: p for p in params if isinstance(p, typer.core.TyperOption)}


def test_cli_flags_are_the_options_and_the_pilots_own() -> None:
    params = _pilot_flags()
    option_flags = {flag(f): f for f in fields(PilotOptions)}
    assert set(params) - {"--help"} == set(option_flags) | PILOT_OWN_FLAGS
    for name, f in option_flags.items():
        assert params[name].default == f.default, name
        assert params[name].help == f.metadata["help"], name


def test_factory_argv_through_the_cli_gives_the_pilot_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # given options that differ from the defaults in every field, written as the factory writes them
    options = every_option_changed()
    seen: list[PilotConfig] = []

    def fake_run_pilot(cfg: PilotConfig) -> int:
        seen.append(cfg)
        return 0

    monkeypatch.setattr(pandawms.pilot, "run_pilot", fake_run_pilot)
    # when `panda pilot` parses them
    argv = ["pilot", "--queue", "Q", "--server", "http://h:1", "--worker-id", "7", *options.argv()]
    result = CliRunner().invoke(app, argv)
    # then the pilot runs with exactly those options
    assert result.exit_code == 0, result.output
    (cfg,) = seen
    assert cfg.options() == options
    assert (cfg.queue, cfg.server_url, cfg.worker_id) == ("Q", "http://h:1", 7)


def test_cli_defaults_are_the_option_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[PilotConfig] = []

    def run_pilot(cfg: PilotConfig) -> int:
        seen.append(cfg)
        return 0

    monkeypatch.setattr(pandawms.pilot, "run_pilot", run_pilot)
    result = CliRunner().invoke(app, ["pilot", "--queue", "Q"])
    assert result.exit_code == 0, result.output
    assert seen[0].options() == DEFAULTS


def test_cli_rejects_an_option_below_its_minimum() -> None:
    result = CliRunner().invoke(app, ["pilot", "--queue", "Q", "--max-empty", "0"])
    assert result.exit_code == 2
    assert "--max-empty" in result.output


def test_factory_toml_accepts_every_option_by_its_public_name() -> None:
    options = every_option_changed()
    table = {
        public_name(f): str(v) if isinstance(v := getattr(options, f.name), Path) else v
        for f in fields(PilotOptions)
    }
    raw = {"factory": {"server_url": "http://h:1", "pilot": table}, "queue": [{"name": "Q", "pilot": table}]}
    cfg = parse_factory_config(raw)
    assert cfg.pilot == options
    assert cfg.pilot_options(cfg.queues[0]) == options


def test_pilot_config_is_launched_with_the_options() -> None:
    options = every_option_changed()
    cfg = PilotConfig.launched(
        options, server_url="http://h:1", queue="Q", workdir=Path("/w"), worker_id=None
    )
    assert cfg.options() == options
    assert isinstance(cfg, PilotOptions)
