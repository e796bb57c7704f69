"""The public names of constellation.deployments, frozen (like httpx's test)."""

import constellation.deployments as deployments


def test_all_exports() -> None:
    assert deployments.__all__ == [
        "AUTOSCALE_OPTIONS",
        "DEPLOYMENT_OPTIONS",
        "INSTANCE_STATUSES",
        "MAX_INSTANCES",
        "RESTART_POLICIES",
        "AutoscaleSpec",
        "Cluster",
        "Deployment",
        "DeploymentClosedError",
        "DeploymentConflictError",
        "DeploymentError",
        "DeploymentManager",
        "DeploymentNotFoundError",
        "DeploymentScaler",
        "DeploymentValidationError",
        "InstanceInfo",
        "ReplicaContext",
        "ReplicaDecision",
        "decide_replicas",
        "parse_autoscale",
    ]
    exported = {name for name in dir(deployments) if not name.startswith("_")}
    assert exported == set(deployments.__all__)


def test_manager_public_methods() -> None:
    methods = {name for name in dir(deployments.DeploymentManager) if not name.startswith("_")}
    assert methods == {
        "close",
        "closed",
        "create_cluster",
        "delete_cluster",
        "deploy",
        "get_cluster",
        "get_deployment",
        "has_instance",
        "list_clusters",
        "list_deployments",
        "list_instances",
        "log_path",
        "poll",
        "recover",
        "restart_deployment",
        "restart_instance",
        "scale",
        "scale_down",
        "scale_up",
        "undeploy",
    }
