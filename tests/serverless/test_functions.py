"""Registering and configuring functions: the seed's checks, code snapshots, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from constellation.errors import NotFoundError, ValidationError
from constellation.serverless import ServerlessService

from .conftest import FIXTURES, HANDLERS


def test_create_function_records_settings_and_copies_code(sls: ServerlessService) -> None:
    f = sls.create_function("process-order", "python", "echo", HANDLERS)
    assert f.id.startswith("fn-") and f.name == "process-order"
    assert (f.memory_mb, f.timeout_s, f.status, f.version) == (128, 30, "created", 1)
    stored = sls.settings.code_dir / f.code_hash / "handlers.py"
    assert stored.read_bytes() == Path(HANDLERS).read_bytes()
    assert sls.get_function("process-order") == sls.get_function(f.id) == f
    assert [x.name for x in sls.list_functions()] == ["process-order"]


def test_set_memory_timeout_concurrency_env_and_policy(sls: ServerlessService) -> None:
    f = sls.create_function("cfg", "python", "env", HANDLERS)
    assert sls.set_memory(f.id, 256).memory_mb == 256
    assert sls.set_timeout(f.id, 30).timeout_s == 30
    assert sls.set_concurrency(f.id, 100).concurrency == 100
    assert sls.set_env_var(f.id, "DB_HOST", "db.example.com").env == {"DB_HOST": "db.example.com"}
    policy = sls.set_scaling_policy(
        f.id,
        {
            "min_instances": 0,
            "max_instances": 50,
            "target_concurrency": 80,
            "enable_predictive_scaling": True,
        },
    ).scaling_policy
    assert (policy.max_instances, policy.target_concurrency, policy.enable_predictive_scaling) == (
        50,
        80,
        True,
    )
    result = sls.invoke_sync(f.id, {"names": ["DB_HOST", "HOME_NOT_SET_X"]})
    assert result.output == {"DB_HOST": "db.example.com", "HOME_NOT_SET_X": None}


def test_env_values_are_masked_everywhere(sls: ServerlessService) -> None:
    f = sls.create_function("secretive", "python", "echo", HANDLERS, env={"API_KEY": "secret-key"})
    f = sls.set_env_var(f.id, "DB_PASSWORD", "hunter2")
    assert "secret-key" not in repr(f) and "hunter2" not in repr(f)
    assert f.to_dict()["env"] == {"API_KEY": "****", "DB_PASSWORD": "****"}
    assert "hunter2" not in repr(sls.list_functions())


def test_edit_after_deploy_changes_nothing_until_next_deploy(
    sls: ServerlessService, tmp_path: Path
) -> None:
    source = tmp_path / "greet.py"
    source.write_text("def handle(event, context):\n    return 'v1'\n")
    f = sls.create_function("greet", "python", "handle", str(source))
    sls.deploy_function(f.id)
    source.write_text("def handle(event, context):\n    return 'v2'\n")
    assert sls.invoke_sync(f.id).output == "v1"
    redeployed = sls.deploy_function(f.id)
    assert redeployed.version == 2 and redeployed.code_hash != f.code_hash
    assert sls.invoke_sync(f.id).output == "v2"


def test_package_directory_with_its_own_modules(sls: ServerlessService) -> None:
    f = sls.create_function(
        "orders", "python", "handlers.handle_order", str(FIXTURES / "orders_pkg")
    )
    assert sls.invoke_sync(f.id, {"order_id": 12345, "amount": 100.0}).output == {
        "order_id": 12345,
        "total": 120.0,
    }
    g = sls.create_function("orders-root", "python", "handle_order", str(FIXTURES / "orders_pkg"))
    assert sls.invoke_sync(g.id, {"order_id": 1, "amount": 10.0}).output["total"] == 12.0


def test_delete_function(sls: ServerlessService) -> None:
    f = sls.create_function("doomed", "python", "noop", HANDLERS)
    sls.invoke_sync(f.id)
    sls.delete_function(f.id)
    with pytest.raises(NotFoundError, match=r"doomed|fn-"):
        sls.get_function(f.id)
    assert sls.list_instances() == []
    with pytest.raises(NotFoundError):
        sls.invoke_sync("doomed")


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"runtime": "cobol"}, "runtime", "'python', 'wasm'"),
        ({"runtime": "rads"}, "runtime", "out of scope"),
        ({"runtime": "wasm"}, "code", "needs a .wasm or .wat file"),
        ({"gas_limit": 1000}, "gas_limit", "runtime 'wasm' only"),
        ({"name": "Not_A_Label"}, "name", "DNS label"),
        ({"name": "-x"}, "name", "DNS label"),
        ({"memory_mb": 0}, "memory_mb", "128-10240"),
        ({"memory_mb": 99999}, "memory_mb", "128-10240"),
        ({"timeout_s": -1}, "timeout_s", "1-900"),
        ({"code": "/nonexistent/handler.py"}, "code", "does not exist"),
        ({"handler": "missing_function"}, "handler", "no attribute 'missing_function'"),
        ({"handler": "NOT_CALLABLE"}, "handler", "not callable"),
        ({"handler": "bad name"}, "handler", "dotted Python name"),
        ({"env": {"1BAD": "x"}}, "env", "not a valid variable name"),
        ({"scaling_policy": {"max_instances": 0}}, "scaling_policy.max_instances", "at least 1"),
        ({"scaling_policy": {"warp": 9}}, "scaling_policy", "unknown option 'warp'"),
        (
            {"scaling_policy": {"target_concurrency": 150}},
            "scaling_policy.target_concurrency",
            "percent, in (0, 100]",
        ),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(
    sls: ServerlessService, kwargs: dict[str, object], field: str, words: str
) -> None:
    args: dict[str, object] = {
        "name": "valid-name",
        "runtime": "python",
        "handler": "echo",
        "code": HANDLERS,
    }
    args.update(kwargs)
    name, runtime, handler, code = (args.pop(k) for k in ("name", "runtime", "handler", "code"))
    with pytest.raises(ValidationError) as info:
        sls.create_function(name, runtime, handler, code, **args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert words in str(info.value)
    assert sls.list_functions() == []
    code_dir = sls.settings.code_dir
    assert (
        not code_dir.exists() or [p for p in code_dir.iterdir() if not p.name.startswith(".")] == []
    )


def test_code_that_fails_to_import_is_refused(sls: ServerlessService, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import does_not_exist_anywhere\n\ndef handle(e, c):\n    return 1\n")
    with pytest.raises(ValidationError, match="No module named 'does_not_exist_anywhere'") as info:
        sls.create_function("broken", "python", "handle", str(broken))
    assert info.value.field == "code"
    assert sls.list_functions() == []


def test_bad_settings_change_nothing(sls: ServerlessService) -> None:
    f = sls.create_function("steady", "python", "noop", HANDLERS)
    for call, value in ((sls.set_memory, 99999), (sls.set_timeout, -1), (sls.set_concurrency, 0)):
        with pytest.raises(ValidationError):
            call(f.id, value)  # type: ignore[operator]
    with pytest.raises(ValidationError, match="env"):
        sls.set_env_var(f.id, "NOT-VALID", "x")
    assert sls.get_function(f.id) == f


def test_duplicate_name_is_refused(sls: ServerlessService) -> None:
    sls.create_function("twice", "python", "noop", HANDLERS)
    with pytest.raises(ValidationError, match="already exists"):
        sls.create_function("twice", "python", "noop", HANDLERS)


def test_refused_function_keeps_code_used_by_others(sls: ServerlessService, tmp_path: Path) -> None:
    f = sls.create_function("keeper", "python", "echo", HANDLERS)
    with pytest.raises(ValidationError):
        sls.create_function("other", "python", "missing_function", HANDLERS)
    assert (sls.settings.code_dir / f.code_hash).is_dir()
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)


def test_update_function_checks_everything_then_replaces_instances_once(
    sls: ServerlessService,
) -> None:
    f = sls.create_function("several", "python", "env", HANDLERS, env={"OLD": "1"})
    sls.deploy_function(f.id)
    sls.invoke_sync(f.id, {"names": []})
    pool = next(p for p in sls.pools() if p.info.id == f.id)
    generation = pool.generation
    new = sls.update_function(
        f.id, {"memory_mb": 256, "env": {"A": "1", "B": "2", "C": "3", "OLD": None}}
    )
    assert (new.memory_mb, new.env) == (256, {"A": "1", "B": "2", "C": "3"})
    assert pool.generation == generation + 1  # one replacement for four changes
    assert sls.update_function(f.id, {"timeout_s": 60}).timeout_s == 60
    assert pool.generation == generation + 1  # a timeout does not change an instance
    result = sls.invoke_sync(f.id, {"names": ["A", "OLD"]})
    assert result.output == {"A": "1", "OLD": None}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"memory_mb": 64, "timeout_s": 60}, "memory_mb"),
        ({"timeout_s": 60, "env": {"NOT_SET": None}}, "env.NOT_SET"),
        ({"timeout_s": 60, "handler": "other"}, "handler"),
        ({"timeout_s": 60, "cold_start_optimization": "yes"}, "cold_start_optimization"),
        ({"timeout_s": 60, "prewarm_instances": -1}, "prewarm_instances"),
    ],
)
def test_update_function_refused_changes_nothing(
    sls: ServerlessService, changes: dict[str, object], field: str
) -> None:
    f = sls.create_function("strict", "python", "echo", HANDLERS)
    with pytest.raises(ValidationError) as err:
        sls.update_function(f.id, changes)
    assert err.value.field == field
    assert sls.get_function(f.id) == f
