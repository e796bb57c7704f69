"""deploy(): real processes with the spec's script, args, env, GPU and working dir."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from constellation.deployments import Deployment, DeploymentManager, DeploymentNotFoundError
from constellation.errors import NotFoundError

from .._support import FakeClock, wait_for_line, wait_until
from .conftest import pid_alive


def _records(folder: Path, ids: list[str]) -> dict[str, dict]:
    for iid in ids:
        wait_until(lambda iid=iid: (folder / f"{iid}.json").exists())
    return {iid: json.loads((folder / f"{iid}.json").read_text()) for iid in ids}


def test_deploy_three_instances_gives_three_live_processes(
    manager: DeploymentManager, scripts: Path
) -> None:
    deployment = manager.deploy("web", {"script": str(scripts / "sleeper.py"), "instances": 3})

    assert isinstance(deployment, Deployment)
    assert deployment.instances == 3 and deployment.running == 3
    infos = manager.list_instances("web")
    pids = [i.pid for i in infos]
    assert len(set(pids)) == 3 and all(pid is not None and pid_alive(pid) for pid in pids)
    assert [i.index for i in infos] == [0, 1, 2]
    assert all(i.id.startswith("dep-") and manager.has_instance(i.id) for i in infos)
    assert len({i.id for i in infos}) == 3
    assert {i.status for i in infos} <= {"starting", "running"}
    assert all(i.restarts == 0 and i.uptime_s >= 0 for i in infos)
    wait_until(lambda: {i.status for i in manager.list_instances("web")} == {"running"})


def test_instance_sees_args_env_gpu_and_runs_as_main(
    manager: DeploymentManager, scripts: Path
) -> None:
    manager.create_cluster(name="ml-training", gpu_enabled=True)
    manager.deploy(
        "ml-worker-1",
        {"script": str(scripts / "sleeper.py"), "gpu": "1", "gpu_memory": 4096},
        args=["--epochs", "3"],
        env={"SECRET": "hunter2"},
        cluster="ml-training",
    )
    [info] = manager.list_instances("ml-worker-1")
    record = _records(scripts, [info.id])[info.id]

    assert record["argv"] == [str(scripts / "sleeper.py"), "--epochs", "3"]
    assert record["name"] == "__main__"
    assert record["SECRET"] == "hunter2"
    assert record["CUDA_VISIBLE_DEVICES"] == "1"
    assert record["CONSTELLATION_DEPLOYMENT"] == "ml-worker-1"
    assert record["CONSTELLATION_INSTANCE_ID"] == info.id
    assert record["CONSTELLATION_INSTANCE_INDEX"] == "0"
    assert record["cwd"] == str(scripts)  # default working dir: the script's folder
    deployment = manager.get_deployment("ml-worker-1")
    assert (deployment.gpu, deployment.gpu_memory, deployment.cluster) == ("1", 4096, "ml-training")


def test_working_dir_and_relative_script(
    manager: DeploymentManager, scripts: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "job.py").write_text((scripts / "sleeper.py").read_text())
    manager.deploy("job", script="job.py", working_dir=str(workdir))
    [info] = manager.list_instances("job")
    assert _records(workdir, [info.id])[info.id]["cwd"] == str(workdir)
    assert manager.get_deployment("job").script == str(workdir / "job.py")


def test_secrets_are_masked_in_repr_listing_and_logs(
    manager: DeploymentManager, scripts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="constellation.deployments")
    deployment = manager.deploy(
        "api", script=str(scripts / "sleeper.py"), env={"SECRET": "s3cr3t-value"}
    )
    shown = [
        repr(deployment),
        str(deployment.to_dict()),
        repr(manager.list_deployments()),
        repr(manager.get_deployment("api")),
        repr(manager.list_instances()),
        caplog.text,
    ]
    assert deployment.env == {"SECRET": "****"}
    assert "deploy api" in caplog.text
    for text in shown:
        assert "s3cr3t-value" not in text


def test_output_goes_to_the_instance_log(
    manager: DeploymentManager, scripts: Path, settings
) -> None:
    manager.deploy("logged", script=str(scripts / "sleeper.py"))
    [info] = manager.list_instances("logged")
    log = Path(info.log_path)
    assert log == settings.home / "logs" / "deployments" / "logged" / f"{info.id}.log"
    wait_for_line(log, "sleeper up")
    # The launcher's line and the script's are written by two processes: wait for each.
    assert f"started pid {info.pid}" in wait_for_line(log, "started pid")


def test_get_unknown_deployment_raises_not_found(manager: DeploymentManager) -> None:
    with pytest.raises(DeploymentNotFoundError) as err:
        manager.get_deployment("nope")
    assert isinstance(err.value, NotFoundError)
    assert str(err.value) == "deployment 'nope' not found"
    with pytest.raises(NotFoundError):
        manager.list_instances("nope")
    with pytest.raises(NotFoundError):
        manager.undeploy("nope")


def test_undeploy_stops_processes_and_forgets(manager: DeploymentManager, scripts: Path) -> None:
    manager.deploy("gone", script=str(scripts / "sleeper.py"), instances=2)
    infos = manager.list_instances("gone")
    manager.undeploy("gone")
    assert not any(pid_alive(i.pid) for i in infos if i.pid)
    assert manager.list_deployments() == []
    assert not manager.has_instance(infos[0].id)
    assert Path(infos[0].log_path).exists()  # logs are kept


def test_same_spec_again_changes_nothing_running(manager: DeploymentManager, scripts: Path) -> None:
    spec = {"script": str(scripts / "sleeper.py"), "instances": 2}
    manager.deploy("same", spec)
    before = [(i.id, i.pid) for i in manager.list_instances("same")]
    manager.deploy("same", spec)
    assert [(i.id, i.pid) for i in manager.list_instances("same")] == before


def test_rolling_replace_one_index_at_a_time(
    manual: DeploymentManager, clock: FakeClock, scripts: Path
) -> None:
    script = str(scripts / "sleeper.py")
    manual.deploy("roll", script=script, instances=2, env={"VERSION": "1"})
    old = {i.id: i.pid for i in manual.list_instances("roll")}

    manual.deploy("roll", script=script, instances=2, env={"VERSION": "2"})
    infos = manual.list_instances("roll")
    assert len(infos) == 3  # one new instance beside the two old ones
    assert sum(i.id not in old for i in infos) == 1
    manual.poll()
    assert len(manual.list_instances("roll")) == 3  # the new one is still starting

    clock.advance(1.5)  # past the start grace: the new one counts as running
    manual.poll()  # retires old index 0, starts new index 1
    clock.advance(1.5)
    manual.poll()  # retires old index 1
    infos = manual.list_instances("roll")
    assert [i.index for i in infos] == [0, 1]
    assert not {i.id for i in infos} & set(old)
    # old processes got SIGTERM from the supervisor pass; they end on their own
    wait_until(lambda: not any(pid_alive(pid) for pid in old.values() if pid))
    records = _records(scripts, [i.id for i in infos])
    assert {r["VERSION"] for r in records.values()} == {"2"}


def test_rollout_of_a_crashing_version_stalls_and_keeps_the_old(
    manual: DeploymentManager, clock: FakeClock, scripts: Path
) -> None:
    manual.deploy("stall", script=str(scripts / "sleeper.py"), instances=2)
    old = manual.list_instances("stall")
    manual.deploy("stall", script=str(scripts / "crasher.py"), instances=2)
    for _ in range(5):
        wait_until(lambda: any(i.status == "backoff" for i in _poll_list(manual, "stall")))
        clock.advance(5)
        manual.poll()
    infos = manual.list_instances("stall")
    assert {i.id for i in old} <= {i.id for i in infos}
    assert all(pid_alive(i.pid) for i in old if i.pid)
    assert len(infos) == 3  # the two old ones and the one crashing new one


def _poll_list(manager: DeploymentManager, name: str):
    manager.poll()
    return manager.list_instances(name)


def test_log_rotation_bounds_the_file(make_manager, clock: FakeClock, scripts: Path) -> None:
    manager = make_manager(clock=clock, supervise=False, log_max_bytes=1000)
    manager.deploy("chatty", script=str(scripts / "chatty.py"))
    [info] = manager.list_instances("chatty")
    wait_until(lambda: (scripts / f"{info.id}.done").exists())
    manager.poll()
    log = Path(info.log_path)
    rotated = log.with_name(log.name + ".1")
    assert rotated.stat().st_size > 5000 and "0049 " in rotated.read_text()
    assert log.stat().st_size == 0
    os.kill(info.pid, 9)  # later lines go to the truncated file
    wait_until(lambda: "killed by SIGKILL" in _poll_and_read(manager, log))


def _poll_and_read(manager: DeploymentManager, log: Path) -> str:
    manager.poll()
    return log.read_text()


def test_redeploying_a_fix_replaces_crash_looping_instances_at_once(
    manual: DeploymentManager, scripts: Path
) -> None:
    manual.deploy("broken", script=str(scripts / "crasher.py"), instances=2)

    def all_in_backoff() -> bool:
        manual.poll()
        return {i.status for i in manual.list_instances("broken")} == {"backoff"}

    wait_until(all_in_backoff)
    old = {i.id for i in manual.list_instances("broken")}
    manual.deploy("broken", script=str(scripts / "sleeper.py"), instances=2)
    infos = manual.list_instances("broken")
    assert len(infos) == 2 and not {i.id for i in infos} & old
    assert all(i.pid and pid_alive(i.pid) for i in infos)


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        ("nvidia:1", {"CUDA_VISIBLE_DEVICES": "1", "NVIDIA_VISIBLE_DEVICES": "1"}),
        ("amd:2", {"ROCR_VISIBLE_DEVICES": "2", "HIP_VISIBLE_DEVICES": "0"}),
        ("intel:0", {"ZE_AFFINITY_MASK": "0"}),
        ("GPU-8f6f3e1a-0000", {"CUDA_VISIBLE_DEVICES": "GPU-8f6f3e1a-0000"}),
        (3, {"CUDA_VISIBLE_DEVICES": "3"}),
    ],
)
def test_gpu_id_forms_give_the_vendor_variables(
    manual: DeploymentManager, scripts: Path, gpu: object, expected: dict[str, str]
) -> None:
    manual.deploy("gpu-job", script=str(scripts / "sleeper.py"), gpu=gpu)
    [info] = manual.list_instances("gpu-job")
    record = _records(scripts, [info.id])[info.id]
    gpu_keys = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
    gpu_keys += ("HIP_VISIBLE_DEVICES", "ZE_AFFINITY_MASK")
    assert {k: record[k] for k in gpu_keys if record[k] is not None} == expected


def test_platform_hooks_supply_gpu_env_and_see_every_start(make_manager, scripts: Path) -> None:
    asked, started = [], []

    def gpu_env(name: str, gpu: str) -> dict[str, str] | None:
        asked.append((name, gpu))
        return {"CUDA_VISIBLE_DEVICES": "MIG-1234"} if name == "trainer" else None

    manager = make_manager(gpu_env=gpu_env, on_instance_start=lambda *args: started.append(args))
    manager.deploy("trainer", script=str(scripts / "sleeper.py"), gpu="nvidia:0")
    manager.deploy("other", script=str(scripts / "sleeper.py"), gpu="nvidia:1")
    trainer, other = manager.list_instances("trainer")[0], manager.list_instances("other")[0]
    records = _records(scripts, [trainer.id, other.id])
    assert records[trainer.id]["CUDA_VISIBLE_DEVICES"] == "MIG-1234"
    assert records[other.id]["CUDA_VISIBLE_DEVICES"] == "1"  # None: the default from the id
    assert asked == [("trainer", "nvidia:0"), ("other", "nvidia:1")]
    restarted = manager.restart_instance(trainer.id)
    assert started == [
        ("trainer", trainer.id, trainer.pid),
        ("other", other.id, other.pid),
        ("trainer", trainer.id, restarted.pid),
    ]


def test_a_failing_hook_does_not_stop_the_instance(
    make_manager, scripts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("hook is broken")

    manager = make_manager(gpu_env=broken, on_instance_start=broken)
    manager.deploy("sturdy", script=str(scripts / "sleeper.py"), gpu="nvidia:0")
    [info] = manager.list_instances("sturdy")
    assert info.pid is not None and pid_alive(info.pid)
    assert _records(scripts, [info.id])[info.id]["CUDA_VISIBLE_DEVICES"] == "0"
    assert "hook failed" in caplog.text


def test_env_may_carry_gpu_variables_without_the_gpu_option(
    manual: DeploymentManager, scripts: Path
) -> None:
    env = {"CUDA_VISIBLE_DEVICES": "GPU-abc", "NVIDIA_VISIBLE_DEVICES": "GPU-abc"}
    manual.deploy("alloc-env", script=str(scripts / "sleeper.py"), env=env)
    [info] = manual.list_instances("alloc-env")
    assert _records(scripts, [info.id])[info.id]["CUDA_VISIBLE_DEVICES"] == "GPU-abc"
