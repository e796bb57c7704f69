"""The function catalog: create, read, update and delete functions.

Every setting is checked before anything changes (a ValidationError names the field); a
function's code is copied into the code store on create and on every deploy. A change
that alters what an instance is (memory, env, resources, GPU, gas) replaces the
function's instances, once per change however many settings it makes.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..backends import Backend, InstanceStartError
from ..config import Settings
from ..errors import NotFoundError, ValidationError
from . import _validation as check
from ._codestore import CodeSnapshot, resolve_entry, snapshot_code
from ._instances import InstanceManager
from ._models import FunctionInfo, Resources, ScalingPolicy
from ._registry import FunctionRegistry

__all__ = ["FunctionCatalog"]


class FunctionCatalog:
    """Functions and their settings; their instances follow through ``instances``.

    ``drop_triggers(function_id)`` removes a deleted function's triggers;
    ``is_running()`` says whether the platform's loops run in this process.
    """

    def __init__(
        self,
        registry: FunctionRegistry,
        settings: Settings,
        clock: Callable[[], float],
        backend: Backend,
        instances: InstanceManager,
        *,
        drop_triggers: Callable[[str], None],
        is_running: Callable[[], bool],
    ) -> None:
        self.registry = registry
        self.settings = settings
        self._clock = clock
        self._backend = backend
        self._instances = instances
        self._drop_triggers = drop_triggers
        self._is_running = is_running

    def create_function(
        self,
        name: str,
        runtime: str = "python",
        handler: str = "handler",
        code: str | None = None,
        *,
        memory_mb: int | None = None,
        timeout_s: int | None = None,
        concurrency: int | None = None,
        env: Mapping[str, str] | None = None,
        scaling_policy: Mapping[str, Any] | None = None,
        cold_start_optimization: bool = False,
        gas_limit: int | None = None,
        resources: Mapping[str, Any] | None = None,
        gpu: Mapping[str, Any] | None = None,
        network: bool = True,
    ) -> FunctionInfo:
        """Register a function; its code is copied into the store and its handler checked.

        ``runtime="wasm"`` takes a ``.wasm`` (or ``.wat``) file: a WASI command module
        (handler ``"_start"``) gets the event as JSON on stdin and answers on stdout; a core
        module's exported function (the handler) takes and returns numbers; the seed's form,
        ``handler="process_image.wasm"`` with no ``code``, takes that file as the code
        (``"file.wasm:export"`` names a core module's export). ``gas_limit`` is
        a WASM function's gas budget per invocation. ``resources`` (``num_cpus``,
        ``num_gpus``, ``custom``) is what each instance asks a Ray cluster for. ``gpu`` is a
        GPU request (``{"gpu_count": 1, "memory_mb": 4096}``, see :mod:`constellation.gpu`)
        allocated for each instance while it lives; its environment reaches the worker.
        ``network=False`` runs its instances with no network (in a sandbox, see
        docs/security.md).
        """
        s = self.settings
        check.check_name(name)
        check.check_runtime(runtime)
        memory = check.check_memory(s.default_memory_mb if memory_mb is None else memory_mb)
        timeout = check.check_timeout(s.default_timeout_s if timeout_s is None else timeout_s)
        conc = check.check_concurrency(
            s.default_concurrency if concurrency is None else concurrency
        )
        variables = check.check_env(env)
        base = ScalingPolicy(idle_timeout_s=s.idle_timeout_s)
        policy = ScalingPolicy.from_mapping(scaling_policy, base)
        gas = check.check_gas_limit(gas_limit, runtime)
        wants = Resources.from_mapping(resources)
        gpu_request = check.check_gpu(gpu, runtime)
        check.check_bool("network", network)
        if code is None and runtime == "wasm" and isinstance(handler, str):
            code, handler = _wasm_handler_as_code(handler)
        if code is None:
            raise ValidationError("code", "required: the path of a .py file or a directory")
        if self.registry.find(name) is not None:
            raise ValidationError("name", f"a function called {name!r} already exists")
        snapshot = snapshot_code(code, s.code_dir)
        if (runtime == "wasm") != (snapshot.kind == "wasm"):
            self._discard_unused(snapshot.code_hash)
            wanted = (
                "a .wasm or .wat file" if runtime == "wasm" else "Python code (.py or a directory)"
            )
            raise ValidationError("code", f"runtime {runtime!r} needs {wanted}; got {str(code)!r}")
        entry = self._entry(snapshot, handler)
        now = self._clock()
        info = FunctionInfo(
            id="fn-" + uuid.uuid4().hex[:12],
            name=name,
            runtime=runtime,
            handler=handler,
            source=str(code),
            code_hash=snapshot.code_hash,
            entry=entry,
            memory_mb=memory,
            timeout_s=timeout,
            concurrency=conc,
            env=variables,
            scaling_policy=policy,
            cold_start_optimization=bool(cold_start_optimization),
            prewarm_instances=0,
            version=1,
            status="created",
            created_at=now,
            updated_at=now,
            gas_limit=gas,
            resources=wants,
            gpu=gpu_request,
            network=network,
        )
        self._check_code(info)
        return self.registry.insert(info)

    def _entry(self, snapshot: CodeSnapshot, handler: str) -> str:
        try:
            module, attr = resolve_entry(snapshot, handler)
        except ValidationError:
            self._discard_unused(snapshot.code_hash)
            raise
        return f"{module}:{attr}"

    def _check_code(self, info: FunctionInfo) -> None:
        try:
            self._backend.check_handler(info.launch_spec())
        except (ValidationError, InstanceStartError):
            self._discard_unused(info.code_hash)
            raise

    def _discard_unused(self, code_hash: str) -> None:
        """A refused function leaves no code behind (unless another function uses it)."""
        if not any(f.code_hash == code_hash for f in self.registry.list()):
            shutil.rmtree(self.settings.code_dir / code_hash, ignore_errors=True)

    def deploy_function(self, function: str) -> FunctionInfo:
        """Snapshot the current source, replace the instances, and warm the pool."""
        info = self.registry.get(function)
        snapshot = snapshot_code(info.source, self.settings.code_dir)
        entry = self._entry(snapshot, info.handler)
        changed = snapshot.code_hash != info.code_hash or entry != info.entry
        new = self._replace(
            info,
            code_hash=snapshot.code_hash,
            entry=entry,
            status="deployed",
            deployed_at=self._clock(),
            version=info.version + int(changed),
        )
        if changed:
            self._check_code(new)
        self.registry.save(new)
        self._instances.apply(new, retire=changed)
        self._instances.warm(new)
        return new

    def _replace(self, info: FunctionInfo, **changes: Any) -> FunctionInfo:
        return dataclasses.replace(info, updated_at=self._clock(), **changes)

    def _update(self, function: str, retire: bool, **changes: Any) -> FunctionInfo:
        info = self.registry.get(function)
        new = self.registry.save(self._replace(info, **changes))
        self._instances.apply(new, retire=retire)
        return new

    # Fields update_function takes; those that change what an instance is replace them.
    UPDATABLE = (
        "memory_mb",
        "timeout_s",
        "concurrency",
        "env",
        "scaling_policy",
        "cold_start_optimization",
        "prewarm_instances",
        "resources",
        "gpu",
        "gas_limit",
        "network",
    )
    _RETIRING = frozenset({"memory_mb", "env", "resources", "gpu", "gas_limit", "network"})

    def update_function(self, function: str, changes: Mapping[str, Any]) -> FunctionInfo:
        """Change several settings at once: every value is checked before any is applied,
        the function is saved once, and its instances are replaced at most once.

        ``env`` is merged into the current variables (a value of ``None`` unsets one);
        ``scaling_policy`` and ``resources`` are merged into the current ones; ``gpu`` is
        a request or ``None``. A refused change leaves the function as it was.
        """
        if not isinstance(changes, Mapping):
            raise ValidationError("changes", "must be a mapping of setting: value")
        unknown = sorted(set(changes) - set(self.UPDATABLE))
        if unknown:
            raise ValidationError(
                unknown[0], f"cannot be changed; allowed: {', '.join(self.UPDATABLE)}"
            )
        info = self.registry.get(function)
        fields: dict[str, Any] = {}
        if "memory_mb" in changes:
            fields["memory_mb"] = check.check_memory(changes["memory_mb"])
        if "timeout_s" in changes:
            fields["timeout_s"] = check.check_timeout(changes["timeout_s"])
        if "concurrency" in changes:
            fields["concurrency"] = check.check_concurrency(changes["concurrency"])
        if "env" in changes:
            fields["env"] = self._merged_env(info, changes["env"])
        if "scaling_policy" in changes:
            fields["scaling_policy"] = ScalingPolicy.from_mapping(
                changes["scaling_policy"], info.scaling_policy
            )
        if "cold_start_optimization" in changes:
            enabled = changes["cold_start_optimization"]
            if not isinstance(enabled, bool):
                raise ValidationError("cold_start_optimization", "must be true or false")
            fields["cold_start_optimization"] = enabled
        if "prewarm_instances" in changes:
            fields["prewarm_instances"] = check.check_prewarm(changes["prewarm_instances"])
        if "resources" in changes:
            wanted = changes["resources"]
            if not isinstance(wanted, Mapping):
                raise ValidationError("resources", "must be an object: num_cpus, num_gpus, custom")
            fields["resources"] = Resources.from_mapping({**info.resources.to_dict(), **wanted})
        if "gpu" in changes:
            fields["gpu"] = check.check_gpu(changes["gpu"], info.runtime)
        if "gas_limit" in changes:
            fields["gas_limit"] = check.check_gas_limit(changes["gas_limit"], info.runtime)
        if "network" in changes:
            fields["network"] = check.check_bool("network", changes["network"])
        changed = {k: v for k, v in fields.items() if getattr(info, k) != v}
        if not changed:
            return info
        new = self._update(function, bool(self._RETIRING & set(changed)), **changed)
        if (
            changed.get("cold_start_optimization")
            and self._is_running()
            and new.status == "deployed"
        ):
            self._backend.function_zygote(new.launch_spec())  # ready before the next cold start
        if "prewarm_instances" in changed:
            self._instances.warm(new)
        return new

    @staticmethod
    def _merged_env(info: FunctionInfo, raw: Any) -> dict[str, str]:
        if not isinstance(raw, Mapping):
            raise ValidationError("env", "must be an object of NAME: value (null to unset)")
        for key, value in raw.items():
            if value is None and key not in info.env:
                raise ValidationError(f"env.{key}", "is not set, so it cannot be unset")
        setting = check.check_env({k: v for k, v in raw.items() if v is not None})
        kept = {k: v for k, v in info.env.items() if raw.get(k, v) is not None}
        return {**kept, **setting}

    def set_memory(self, function: str, memory_mb: int) -> FunctionInfo:
        return self._update(function, True, memory_mb=check.check_memory(memory_mb))

    def set_timeout(self, function: str, timeout_s: int) -> FunctionInfo:
        return self._update(function, False, timeout_s=check.check_timeout(timeout_s))

    def set_gas_limit(self, function: str, gas_limit: int | None) -> FunctionInfo:
        """A WASM function's gas budget per invocation (None: unmetered)."""
        info = self.registry.get(function)
        return self._update(
            function, True, gas_limit=check.check_gas_limit(gas_limit, info.runtime)
        )

    def set_resources(
        self, function: str, resources: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        """What each instance asks the cluster for: ``num_cpus``, ``num_gpus``, ``custom``.

        Options not given keep their current value; the instances are replaced.
        """
        info = self.registry.get(function)
        merged = {**info.resources.to_dict(), **(resources or {}), **options}
        return self._update(function, True, resources=Resources.from_mapping(merged))

    def set_gpu(self, function: str, request: Mapping[str, Any] | None) -> FunctionInfo:
        """A GPU request for each instance (None: no GPU); the instances are replaced."""
        info = self.registry.get(function)
        return self._update(function, True, gpu=check.check_gpu(request, info.runtime))

    def set_concurrency(self, function: str, concurrency: int) -> FunctionInfo:
        return self._update(function, False, concurrency=check.check_concurrency(concurrency))

    def set_env_var(self, function: str, name: str, value: str) -> FunctionInfo:
        variables = check.check_env({name: value})
        info = self.registry.get(function)
        return self._update(function, True, env={**info.env, **variables})

    def unset_env_var(self, function: str, name: str) -> FunctionInfo:
        info = self.registry.get(function)
        if name not in info.env:
            raise NotFoundError("environment variable", name)
        return self._update(function, True, env={k: v for k, v in info.env.items() if k != name})

    def set_scaling_policy(
        self, function: str, policy: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        info = self.registry.get(function)
        merged = ScalingPolicy.from_mapping({**(policy or {}), **options}, info.scaling_policy)
        return self._update(function, False, scaling_policy=merged)

    def enable_cold_start_optimization(self, function: str, enabled: bool = True) -> FunctionInfo:
        info = self._update(function, False, cold_start_optimization=bool(enabled))
        if enabled and self._is_running() and info.status == "deployed":
            self._backend.function_zygote(info.launch_spec())  # ready before the next cold start
        return info

    def prewarm_function(self, function: str, instances: int = 1) -> FunctionInfo:
        """Keep ``instances`` idle instances ready (at most the function's limit)."""
        info = self._update(
            function, False, prewarm_instances=check.check_prewarm(instances, "instances")
        )
        self._instances.warm(info)
        return info

    def delete_function(self, function: str) -> None:
        info = self.registry.get(function)
        self.registry.delete(info.id)
        self._drop_triggers(info.id)
        self._instances.drop(info.id)

    def get_function(self, function: str) -> FunctionInfo:
        return self.registry.get(function)

    def list_functions(self) -> list[FunctionInfo]:
        return self.registry.list()


def _wasm_handler_as_code(handler: str) -> tuple[str | None, str]:
    """The seed's form ``create_function(runtime="wasm", handler="process_image.wasm")``:
    the handler names the module file (a WASI command, run through ``_start``), or
    ``"file.wasm:export"`` a core module's export. Anything else leaves ``code`` unset."""
    path, _, export = handler.partition(":")
    if path.endswith((".wasm", ".wat")):
        return path, export or "_start"
    return None, handler
