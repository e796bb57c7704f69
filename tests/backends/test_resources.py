"""Per-function resources: validated when set, persisted, turned into Ray actor options."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.backends.ray import RayBackend
from constellation.config import load_settings
from constellation.errors import ConfigError, ValidationError
from constellation.platform import Constellation
from constellation.serverless import Resources

HANDLERS = str(Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "handlers.py")


@pytest.mark.parametrize(
    ("resources", "field", "message"),
    [
        ({"num_cpus": -1}, "resources.num_cpus", "-1 must be a number 0-1024"),
        ({"num_cpus": True}, "resources.num_cpus", "True must be a number 0-1024"),
        ({"num_gpus": 1.5}, "resources.num_gpus", "a fraction is allowed only below 1"),
        ({"num_gpus": 65}, "resources.num_gpus", "65 must be a number 0-64"),
        ({"custom": {"GPU": 1}}, "resources.custom", "'GPU' is not a custom resource name"),
        ({"custom": {"": 1}}, "resources.custom", "'' is not a custom resource name"),
        ({"custom": {"tpu": 0}}, "resources.custom.tpu", "0 must be a number > 0"),
        ({"custom": ["tpu"]}, "resources.custom", "expected a mapping, got list"),
        ({"cpus": 1}, "resources", "unknown option 'cpus'; allowed: custom, num_cpus, num_gpus"),
    ],
)
def test_bad_resources_name_the_field(
    tmp_path: Path, resources: dict[str, object], field: str, message: str
) -> None:
    with Constellation(tmp_path / "home") as platform:
        sls = platform.serverless
        with pytest.raises(ValidationError) as caught:
            sls.create_function("f", "python", "echo", HANDLERS, resources=resources)
        assert caught.value.field == field
        assert message in str(caught.value)
        assert sls.list_functions() == []  # nothing changed
        f = sls.create_function("f", "python", "echo", HANDLERS)
        with pytest.raises(ValidationError):
            sls.set_resources(f.id, resources)
        assert sls.get_function(f.id).resources == Resources()


def test_resources_persist_and_merge(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home") as platform:
        f = platform.serverless.create_function(
            "f", "python", "echo", HANDLERS, resources={"num_gpus": 0.25}
        )
        platform.serverless.set_resources(f.id, custom={"accelerator": 2})
    with Constellation(tmp_path / "home") as platform:
        info = platform.serverless.get_function("f")
        assert info.resources == Resources(None, 0.25, {"accelerator": 2.0})
        assert info.to_dict()["resources"] == {
            "num_cpus": None,
            "num_gpus": 0.25,
            "custom": {"accelerator": 2.0},
        }


def test_actor_options_follow_the_function(tmp_path: Path) -> None:
    settings = load_settings({"home": tmp_path / "home", "backend": "ray"})
    with Constellation(settings=settings.replace(backend="local")) as platform:
        sls = platform.serverless
        f = sls.create_function("f", "python", "echo", HANDLERS, memory_mb=1769)
        g = sls.create_function(
            "g", "python", "echo", HANDLERS, resources={"num_cpus": 2, "num_gpus": 0.5}
        )
        sls.set_resources(g.id, custom={"accelerator": 1})
        backend = RayBackend(settings)
        try:
            lambda_ratio = backend.actor_options(sls.get_function(f.id).launch_spec())
            assert lambda_ratio["num_cpus"] == 1.0  # 1,769 MB buys one CPU, as in Lambda
            assert lambda_ratio["memory"] == 1769 * 1024 * 1024
            assert "num_gpus" not in lambda_ratio and "resources" not in lambda_ratio
            assert lambda_ratio["scheduling_strategy"] == "SPREAD"
            explicit = backend.actor_options(sls.get_function(g.id).launch_spec())
            assert explicit["num_cpus"] == 2.0 and explicit["num_gpus"] == 0.5
            assert explicit["resources"] == {"accelerator": 1.0}
            packed = RayBackend(settings.replace(ray_placement="pack"))
            assert "scheduling_strategy" not in packed.actor_options(
                sls.get_function(f.id).launch_spec()
            )
            packed.close()
        finally:
            backend.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("backend", "kubernetes", "'kubernetes' is not allowed; allowed: local, ray"),
        ("ray_placement", "random", "'random' is not allowed; allowed: spread, pack"),
        ("ray_start_timeout_s", 0, "0 is out of range; expected 1-3600 s"),
        ("ray_address", 5, "5 (from arguments) is not a string"),
    ],
)
def test_bad_backend_settings_name_the_field(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({key: value}, env={})
    assert caught.value.field == key
    assert message in str(caught.value)


def test_the_backend_comes_from_the_environment() -> None:
    settings = load_settings(
        env={"CONSTELLATION_BACKEND": "ray", "CONSTELLATION_RAY_ADDRESS": "ray://head:10001"}
    )
    assert (settings.backend, settings.ray_address) == ("ray", "ray://head:10001")
