"""DeployResources and the workflows, checked offline (no Bicep compiler can be installed here from
the package registries): every setting the app reads is provided, secrets stay secret, the
resources and outputs the README and the workflows rely on exist, and the YAML files parse."""

import json
import re
from pathlib import Path

import pytest
import yaml

from services.common.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "DeployResources"
MAIN = (INFRA / "main.bicep").read_text()
MODULES = {path.name: path.read_text() for path in (INFRA / "modules").glob("*.bicep")}
ALL_BICEP = MAIN + "\n".join(MODULES.values())

# App settings that the Functions host and its Python worker read, never the app: like FUNCTIONS_* and
# AzureWebJobs*, they are not in services/common/settings.py (main.bicep's `platformSettings`).
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME",
    "PYTHON_ENABLE_INIT_INDEXING",
}


def bicep_block(text: str, header: str) -> str:
    """The `{ ... }` body after `header`, by brace matching."""
    start = text.index(header)
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    raise AssertionError(f"unclosed block after {header}")


def test_every_setting_the_app_reads_is_an_app_setting_and_nothing_else() -> None:
    block = bicep_block(MAIN, "var appSettings =")
    provided = set(re.findall(r"^\s*([A-Z][A-Z0-9_]+):", block, re.M))

    assert provided == set(setting_names())


def test_modules_exist_and_the_resources_of_a_production_deployment_are_declared() -> None:
    for module in re.findall(r"module \w+ '([^']+)'", MAIN):
        assert (INFRA / module).exists(), module
    for resource_type in [
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Insights/components",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        "Microsoft.KeyVault/vaults",
        "Microsoft.Authorization/roleAssignments",
    ]:
        assert f"'{resource_type}@" in ALL_BICEP, resource_type
    app = MODULES["functionapp.bicep"]
    assert "name: 'FC1'" in app and "tier: 'FlexConsumption'" in app
    assert "name: 'python'" in app and "version: '3.11'" in app and "'functionapp,linux'" in app
    assert "type: 'SystemAssigned'" in app and "AzureWebJobsStorage__credential" in app
    assert "FUNCTIONS_WORKER_RUNTIME" not in ALL_BICEP  # Flex Consumption sets the runtime itself
    postgres = MODULES["postgres.bicep"]
    assert "name: 'azure.extensions'" in postgres and "value: 'VECTOR'" in postgres
    assert "allowSharedKeyAccess: false" in MODULES["storage.bicep"]


def test_secrets_are_secure_parameters_and_reach_the_app_through_key_vault() -> None:
    decorator = r"@\w+\((?:'[^']*'|[^)'])*\)\s*"
    secure = set(re.findall(rf"@secure\(\)\s*(?:{decorator})*param (\w+)", MAIN))
    assert {"postgresAdminPassword", "openAiKey", "azureOpenAiApiKey", "webshareProxyPassword",
            "youtubeProxyHttpUrl", "youtubeProxyHttpsUrl"} <= secure  # fmt: skip
    block = bicep_block(MAIN, "var appSettings =")
    for name in ["OPENAI_KEY", "AZURE_OPENAI_API_KEY", "WEBSHARE_PROXY_PASSWORD", "PG_CONNECTION_STRING"]:
        assert re.search(rf"^\s*{name}: .* '\$\{{vaultRef\}}[a-z-]+\)'$", block, re.M), name
    assert "var vaultRef = '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName='" in MAIN
    assert "keyVaultSecretsUser" in MODULES["functionapp.bicep"]
    assert not re.search(r"^output \w*(PASSWORD|_KEY |CONNECTION_STRING)", MAIN, re.M)


def test_the_parameters_file_holds_no_value_only_environment_references() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = {name: rest for name, _type, rest in re.findall(r"^param (\w+) (\w+)(.*)$", MAIN, re.M)}

    assert all(re.fullmatch(r"\$\{[A-Z_]+=?\}", str(p["value"])) for p in parameters.values())
    assert set(parameters) <= set(declared)
    required = {name for name, rest in declared.items() if "=" not in rest}
    assert required <= set(parameters)


def test_outputs_the_workflows_and_hooks_use_exist() -> None:
    outputs = set(re.findall(r"^output (\w+) ", MAIN, re.M))

    assert {"AZURE_FUNCTION_APP_NAME", "SERVICE_API_URI", "POSTGRES_HOST", "POSTGRES_DATABASE",
            "POSTGRES_ADMIN_LOGIN", "POSTGRES_SERVER_NAME"} <= outputs  # fmt: skip
    hook = (INFRA / "hooks" / "migrate.sh").read_text()
    assert all(name in outputs or name in {"CLIENT_IP_ADDRESS", "POSTGRES_ADMIN_PASSWORD"}
               for name in re.findall(r"\$\{([A-Z_]+)", hook))  # fmt: skip
    assert "main.bicep" in (INFRA / "deploy-functions-resources.ps1").read_text()


def test_azd_project_points_at_the_template_and_its_hooks() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())

    assert (ROOT / project["infra"]["path"] / f"{project['infra']['module']}.bicep").exists()
    assert project["services"]["api"]["host"] == "function"
    for hook in project["hooks"]["postprovision"].values():
        assert (ROOT / hook["run"]).exists()
    assert "'azd-service-name': 'api'" in MAIN


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflows_parse(name: str) -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())

    assert workflow["jobs"]
    for job in workflow["jobs"].values():
        assert all("uses" in step or "run" in step for step in job["steps"])


def test_ci_tests_against_pgvector_and_smoke_tests_func_start() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())

    assert ci["jobs"]["test"]["services"]["postgres"]["image"].startswith("pgvector/pgvector")
    assert "PG_CONNECTION_STRING" in ci["jobs"]["test"]["env"]
    runs = "\n".join(step.get("run", "") for step in ci["jobs"]["func-start"]["steps"])
    assert "func start" in runs and "/api/health" in runs
    assert "text/event-stream" in runs and "event: done" in runs  # HTTP streams work under Core Tools


def test_deploy_logs_in_with_oidc_migrates_then_deploys() -> None:
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    steps = deploy["jobs"]["deploy"]["steps"]
    uses = [step.get("uses", "") for step in steps]

    assert deploy["permissions"]["id-token"] == "write"
    assert any(u.startswith("azure/login@") for u in uses)
    assert "publish-profile" not in json.dumps(deploy)
    migrate = next(i for i, s in enumerate(steps) if "alembic upgrade head" in s.get("run", ""))
    ship = next(i for i, u in enumerate(uses) if u.startswith("Azure/functions-action@"))
    assert migrate < ship and steps[ship]["with"]["sku"] == "flexconsumption"


def test_deploy_ships_the_checked_package_and_ci_builds_it_the_same_way() -> None:
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    steps = deploy["jobs"]["deploy"]["steps"]
    build = next(i for i, s in enumerate(steps) if ".github/package.py" in s.get("run", ""))
    ship = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("Azure/functions-action@"))
    zip_path = re.search(r"--output \"\$RUNNER_TEMP/(\S+)\"", steps[build]["run"])

    assert build < ship and zip_path
    assert steps[ship]["with"]["package"] == "${{ runner.temp }}/" + zip_path.group(1)
    assert steps[ship]["with"]["remote-build"] is True
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert "make package" in [step.get("run") for step in ci["jobs"]["test"]["steps"]]
    assert ".github/package.py" in (ROOT / "Makefile").read_text()


def test_the_workers_telemetry_is_on_through_platform_settings_and_host_json() -> None:
    block = bicep_block(MAIN, "var platformSettings =")
    provided = dict(re.findall(r"^\s*([A-Za-z][A-Za-z0-9_]+): (.+)$", block, re.M))
    host = json.loads((ROOT / "host.json").read_text())

    assert set(provided) == PLATFORM_SETTINGS and not PLATFORM_SETTINGS & set(setting_names())
    assert provided["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "'true'"
    assert provided["PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME"] == "'services'"
    assert "appSettings: union(appSettings, platformSettings" in MAIN
    assert host["telemetryMode"] == "OpenTelemetry"
    assert "applicationInsights" not in host.get("logging", {})  # ignored in OpenTelemetry mode
    assert re.search(r"^azure-monitor-opentelemetry==", (ROOT / "requirements.txt").read_text(), re.M)


def parameter_defaults() -> dict[str, int | bool | str]:
    defaults: dict[str, int | bool | str] = {}
    for name, kind, value in re.findall(r"^param (\w+) (int|bool|string) = (.+)$", MAIN, re.M):
        if kind == "int" and value.isdigit():
            defaults[name] = int(value)
        elif kind == "bool" and value in {"true", "false"}:
            defaults[name] = value == "true"
        elif kind == "string" and re.fullmatch(r"'[^']*'", value):
            defaults[name] = value.strip("'")
    return defaults


def budget(p: dict[str, int | bool | str]) -> tuple[int, int]:
    """modules/connections.bicep in Python: (DB_POOL_SIZE, DB_MAX_OVERFLOW)."""
    reserved = int(p["postgresReservedConnections"]) + int(p["postgresSpareConnections"])
    server = int(p["postgresMaxConnections"]) - reserved
    client = int(p["pgBouncerMaxClientConnections"]) if p["usePgBouncer"] else server
    per_instance = min(int(p["httpPerInstanceConcurrency"]), client // (2 * int(p["maximumInstanceCount"]) + 1))
    pool = (per_instance + 1) // 2
    return pool, per_instance - pool


def test_the_default_scale_fits_the_connections_of_the_default_server() -> None:
    defaults = parameter_defaults()
    pool, overflow = budget(defaults)
    instances = 2 * int(defaults["maximumInstanceCount"]) + 1  # HTTP, the ingestion queue, the timer

    assert defaults["postgresSkuName"] == "Standard_B1ms" and defaults["postgresMaxConnections"] == 50
    assert defaults["postgresReservedConnections"] == 15
    assert pool >= 1 and overflow >= 0
    assert instances * (pool + overflow) <= 50 - 15 - int(defaults["postgresSpareConnections"])
    assert defaults["usePgBouncer"] is False  # the Burstable tier has no PgBouncer


def test_the_connection_budget_is_derived_checked_and_applied() -> None:
    module = MODULES["connections.bicep"]
    block = bicep_block(MAIN, "var appSettings =")
    app = MODULES["functionapp.bicep"]

    formula = "(2 x maximumInstanceCount + 1) x (DB_POOL_SIZE + DB_MAX_OVERFLOW) <= max_connections - reserved - spare"
    assert formula in module and formula in (ROOT / "README.md").read_text()
    assert "output dbPoolSize int = empty(problem) ? poolSize : fail(problem)" in module
    assert "postgresSkuTier == 'Burstable'" in module  # PgBouncer refused where Azure has none
    assert "DB_POOL_SIZE: string(connections.outputs.dbPoolSize)" in block
    assert "DB_MAX_OVERFLOW: string(connections.outputs.dbMaxOverflow)" in block
    assert "PG_PGBOUNCER: string(usePgBouncer)" in block
    assert "perInstanceConcurrency: httpPerInstanceConcurrency" in app
    assert "maximumInstanceCount: maximumInstanceCount" in app and "instanceMemoryMB: instanceMemoryMB" in app
    postgres = MODULES["postgres.bicep"]
    for parameter in ["pgbouncer.enabled", "pgbouncer.max_client_conn", "pgbouncer.default_pool_size"]:
        assert f"name: '{parameter}'" in postgres
    assert "output port int = usePgBouncer ? 6432 : 5432" in module


def test_always_ready_instances_are_off_by_default_and_never_above_the_scale_limit() -> None:
    app = MODULES["functionapp.bicep"]

    assert parameter_defaults()["alwaysReadyHttpInstances"] == 0
    assert "alwaysReadyHttpInstances: min(alwaysReadyHttpInstances, maximumInstanceCount)" in MAIN
    assert "[{ name: 'http', instanceCount: alwaysReadyHttpInstances }]" in bicep_block(app, "scaleAndConcurrency:")
    assert "`alwaysReadyHttpInstances`" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, (2, 1)),  # 9 instances (4 HTTP, 4 ingestion, 1 timer) x 3 <= 30
        ({"maximumInstanceCount": 2}, (3, 3)),
        ({"maximumInstanceCount": 40}, (0, 0)),  # refused: 81 instances > 30 connections
        ({"postgresMaxConnections": 859, "maximumInstanceCount": 20}, (8, 8)),  # D2ds_v5: 16 each, its concurrency
        ({"postgresMaxConnections": 859, "maximumInstanceCount": 20, "httpPerInstanceConcurrency": 32}, (10, 10)),
        ({"usePgBouncer": True, "maximumInstanceCount": 100}, (8, 8)),  # within PgBouncer's 5000 clients
    ],
)
def test_the_pool_of_an_instance_is_its_share_of_the_budget_at_most_its_concurrency(
    changes: dict[str, int | bool], expected: tuple[int, int]
) -> None:
    assert budget({**parameter_defaults(), **changes}) == expected


def test_the_app_signs_in_to_postgres_as_its_identity_and_key_vault_keeps_no_password_for_it() -> None:
    defaults = parameter_defaults()
    block = bicep_block(MAIN, "var appSettings =")
    admin = MODULES["postgres-entra-admin.bicep"]

    assert defaults["usePasswordlessPostgres"] is True
    assert "activeDirectoryAuth: 'Enabled'" in MODULES["postgres.bicep"]
    assert "'Microsoft.DBforPostgreSQL/flexibleServers/administrators@" in admin
    assert "principalType: 'ServicePrincipal'" in admin and "name: principalId" in admin
    assert "principalId: functionApp.outputs.principalId" in MAIN
    assert "principalName: names.functionApp" in MAIN
    assert "PG_ENTRA_AUTH: string(usePasswordlessPostgres)" in block
    assert "PG_CONNECTION_STRING: usePasswordlessPostgres ? pgPasswordlessConnectionString : '${vaultRef}" in block
    assert "var pgPasswordlessConnectionString = 'postgresql://${uriComponent(names.functionApp)}@" in MAIN
    assert "'pg-connection-string': usePasswordlessPostgres ? '' : pgPasswordConnectionString" in MAIN
    assert "output POSTGRES_APP_ROLE string = usePasswordlessPostgres ? names.functionApp : ''" in MAIN
    for hook in ["migrate.sh", "migrate.ps1"]:
        assert "grant_app_role.py" in (INFRA / "hooks" / hook).read_text()
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert deploy.index("alembic upgrade head") < deploy.index("grant_app_role.py") < deploy.index("functions-action")


def test_each_checkov_finding_left_in_the_bicep_is_justified_and_ci_runs_checkov() -> None:
    skips = re.findall(r"// checkov:skip=(CKV_\w+):(.*)$", ALL_BICEP, re.M)
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    makefile = (ROOT / "Makefile").read_text()

    assert skips and all(len(reason.strip()) >= 60 for _, reason in skips)
    assert "enablePurgeProtection: true" in MODULES["keyvault.bicep"]
    assert "contentType: 'text/plain'" in MODULES["keyvault.bicep"]
    assert "make checkov" in [step.get("run") for step in ci["jobs"]["checkov"]["steps"]]
    assert re.search(r"^CHECKOV_VERSION := \d+\.\d+\.\d+$", makefile, re.M)
    assert "-d DeployResources -d .github/workflows" in makefile and "Parsing errors" in makefile


def test_http_streams_are_on_where_the_app_runs() -> None:
    """The worker serves the FastAPI types (and streams) only with PYTHON_ENABLE_INIT_INDEXING set and
    the extension installed: on Azure (a platform setting of the template, the package in
    requirements.txt) and with Core Tools (local.settings.json.example)."""
    block = bicep_block(MAIN, "var platformSettings =")
    provided = dict(re.findall(r"^\s*([A-Za-z][A-Za-z0-9_]+): (.+)$", block, re.M))
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]

    assert provided["PYTHON_ENABLE_INIT_INDEXING"] == "'1'" and example["PYTHON_ENABLE_INIT_INDEXING"] == "1"
    assert re.search(r"^azurefunctions-extensions-http-fastapi==", (ROOT / "requirements.txt").read_text(), re.M)


def test_the_ingestion_queue_is_created_in_the_apps_storage_account_and_reached_by_identity() -> None:
    storage = MODULES["storage.bicep"]
    app = MODULES["functionapp.bicep"]
    block = bicep_block(MAIN, "var appSettings =")

    assert "'Microsoft.Storage/storageAccounts/queueServices/queues@" in storage
    assert "name: ingestQueueName" in storage and "ingestQueueName: ingestQueueName" in MAIN
    assert "INGEST_QUEUE_NAME: storage.outputs.ingestQueueName" in block
    # The queue trigger's connection (AzureWebJobsStorage) is the host's, identity-based: queues need the role.
    assert "AzureWebJobsStorage__accountName" in app and "storageQueueDataContributor" in app
    host = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    assert host["messageEncoding"] == "base64" and host["maxDequeueCount"] >= 1
