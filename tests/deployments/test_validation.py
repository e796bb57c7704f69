"""Every bad input: a ValidationError naming the field and what is allowed; nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from constellation.config import Settings
from constellation.deployments import (
    DeploymentManager,
    DeploymentNotFoundError,
    DeploymentValidationError,
)
from constellation.errors import NotFoundError, ValidationError
from constellation.store import Store

SLEEPER = "{scripts}/sleeper.py"

BAD_DEPLOYMENTS: list[tuple[str, Any, dict[str, Any], str, str]] = [
    # (case, name, spec, field, part of the message)
    ("name upper case", "Web_1", {"script": SLEEPER}, "name", "not a DNS label"),
    ("name empty", "", {"script": SLEEPER}, "name", "not a DNS label"),
    ("name leading dash", "-web", {"script": SLEEPER}, "name", "not a DNS label"),
    ("name too long", "a" * 64, {"script": SLEEPER}, "name", "1-63 characters"),
    ("name not a string", 7, {"script": SLEEPER}, "name", "not a DNS label"),
    ("script missing", "web", {"instances": 1}, "script", "is required"),
    ("script not found", "web", {"script": "{scripts}/nope.py"}, "script", "does not exist"),
    ("script not .py", "web", {"script": "{scripts}/notes.txt"}, "script", "not a .py file"),
    ("script not a path", "web", {"script": 12}, "script", "not a path"),
    ("instances negative", "web", {"script": SLEEPER, "instances": -1}, "instances", "0-1024"),
    (
        "instances float",
        "web",
        {"script": SLEEPER, "instances": 1.5},
        "instances",
        "not an integer",
    ),
    ("instances str", "web", {"script": SLEEPER, "instances": "3"}, "instances", "not an integer"),
    (
        "instances bool",
        "web",
        {"script": SLEEPER, "instances": True},
        "instances",
        "not an integer",
    ),
    ("instances huge", "web", {"script": SLEEPER, "instances": 5000}, "instances", "0-1024"),
    ("args a string", "web", {"script": SLEEPER, "args": "--x"}, "args", "list of strings"),
    ("args not strings", "web", {"script": SLEEPER, "args": ["a", 2]}, "args[1]", "not a string"),
    ("env not a dict", "web", {"script": SLEEPER, "env": ["A=1"]}, "env", "expected a dict"),
    (
        "env digit name",
        "web",
        {"script": SLEEPER, "env": {"1A": "x"}},
        "env",
        "not a valid variable",
    ),
    (
        "env dash name",
        "web",
        {"script": SLEEPER, "env": {"A-B": "x"}},
        "env",
        "not a valid variable",
    ),
    (
        "env value int",
        "web",
        {"script": SLEEPER, "env": {"PORT": 80}},
        "env.PORT",
        "expected a string",
    ),
    (
        "env reserved",
        "web",
        {"script": SLEEPER, "env": {"CONSTELLATION_INSTANCE_ID": "x"}},
        "env.CONSTELLATION_INSTANCE_ID",
        "set by the platform",
    ),
    (
        "env and gpu both",
        "web",
        {"script": SLEEPER, "gpu": "0", "env": {"CUDA_VISIBLE_DEVICES": "1"}},
        "env.CUDA_VISIBLE_DEVICES",
        "conflicts with the gpu option",
    ),
    ("unknown option", "web", {"script": SLEEPER, "replicas": 2}, "replicas", "unknown option"),
    ("unknown cluster", "web", {"script": SLEEPER, "cluster": "nope"}, "cluster", "does not exist"),
    ("bad cluster name", "web", {"script": SLEEPER, "cluster": "No Pe"}, "cluster", "DNS label"),
    (
        "restart policy",
        "web",
        {"script": SLEEPER, "restart_policy": "sometimes"},
        "restart_policy",
        "'always', 'on-failure', 'never'",
    ),
    (
        "working dir",
        "web",
        {"script": SLEEPER, "working_dir": "/no/such/dir"},
        "working_dir",
        "not an existing directory",
    ),
    ("gpu id", "web", {"script": SLEEPER, "gpu": "gpu 0!"}, "gpu", "not a GPU id"),
    ("gpu negative", "web", {"script": SLEEPER, "gpu": -1}, "gpu", "not a GPU id"),
    (
        "gpu memory zero",
        "web",
        {"script": SLEEPER, "gpu": "0", "gpu_memory": 0},
        "gpu_memory",
        "MB",
    ),
    (
        "gpu memory alone",
        "web",
        {"script": SLEEPER, "gpu_memory": 4096},
        "gpu_memory",
        "needs a gpu",
    ),
    (
        "gpu on cpu cluster",
        "web",
        {"script": SLEEPER, "gpu": "0", "cluster": "cpu-only"},
        "gpu",
        "not gpu_enabled",
    ),
    ("spec not a dict", "web", ["script"], "spec", "expected a dict"),
]


def _fill(value: Any, scripts: Path) -> Any:
    if isinstance(value, str):
        return value.format(scripts=scripts)
    if isinstance(value, dict):
        return {k: _fill(v, scripts) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("name", "spec", "field", "message"),
    [case[1:] for case in BAD_DEPLOYMENTS],
    ids=[case[0] for case in BAD_DEPLOYMENTS],
)
def test_bad_deploy_is_refused_and_changes_nothing(
    manual: DeploymentManager, scripts: Path, name: Any, spec: Any, field: str, message: str
) -> None:
    (scripts / "notes.txt").write_text("not python")
    manual.create_cluster(name="cpu-only")
    with pytest.raises(DeploymentValidationError) as err:
        manual.deploy(name, _fill(spec, scripts))
    assert isinstance(err.value, ValidationError) and isinstance(err.value, ValueError)
    assert err.value.field == field
    assert message in err.value.message
    assert manual.list_deployments() == []
    assert manual.list_instances() == []


def test_bad_redeploy_keeps_the_running_deployment(
    manager: DeploymentManager, scripts: Path
) -> None:
    manager.deploy("web", script=str(scripts / "sleeper.py"), instances=2, env={"SECRET": "a"})
    before = manager.get_deployment("web")
    pids = [i.pid for i in manager.list_instances("web")]
    for bad in ({"instances": -1}, {"env": {"9": "x"}}, {"restart_policy": "no"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            manager.deploy("web", script=str(scripts / "sleeper.py"), **bad)
    assert manager.get_deployment("web") == before
    assert [i.pid for i in manager.list_instances("web")] == pids


def test_secret_values_never_appear_in_errors(manual: DeploymentManager, scripts: Path) -> None:
    with pytest.raises(ValidationError) as err:
        manual.deploy("web", script=str(scripts / "sleeper.py"), env={"TOKEN": b"s3cr3t"})
    assert "s3cr3t" not in str(err.value)


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (lambda m: m.scale("web", -1), "instances", "0-1024"),
        (lambda m: m.scale("web", 2.0), "instances", "not an integer"),
        (lambda m: m.scale_up("web", "2"), "instances", "not an integer"),
        (lambda m: m.scale_up("web", 1024), "instances", "at most 1024"),
        (lambda m: m.scale_down("web", -3), "instances", "0-1024"),
    ],
)
def test_bad_scale_is_refused_and_changes_nothing(
    manual: DeploymentManager, scripts: Path, call: Any, field: str, message: str
) -> None:
    manual.deploy("web", script=str(scripts / "sleeper.py"), instances=2)
    ids = [i.id for i in manual.list_instances("web")]
    with pytest.raises(DeploymentValidationError) as err:
        call(manual)
    assert (err.value.field, message in err.value.message) == (field, True)
    assert manual.get_deployment("web").instances == 2
    assert [i.id for i in manual.list_instances("web")] == ids


def test_scaling_an_unknown_deployment_raises_not_found(manual: DeploymentManager) -> None:
    for call in (manual.scale_up, manual.scale_down):
        with pytest.raises(DeploymentNotFoundError) as err:
            call("ghost", 1)
        assert isinstance(err.value, NotFoundError)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("poll_interval_s", 0, "must be > 0"),
        ("stop_timeout_s", -1, "must be >= 0"),
        ("start_grace_s", "1", "not a number"),
        ("stable_after_s", -0.5, "must be >= 0"),
        ("log_max_bytes", 0, "must be > 0"),
    ],
)
def test_bad_manager_options_are_refused(
    store: Store, settings: Settings, option: str, value: Any, message: str
) -> None:
    with pytest.raises(DeploymentValidationError) as err:
        DeploymentManager(store, settings, **{option: value})
    assert err.value.field == option and message in err.value.message
