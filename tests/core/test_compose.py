"""docker-compose.yml: valid against the Compose specification, and coherent with the code it runs.

No Docker engine (nor the compose plugin) on the build machines; the schema is the one
check-jsonschema vendors, which is what `docker compose config` validates against.
"""

from pathlib import Path

import pytest
from check_jsonschema.builtin_schemas import get_builtin_schema
from jsonschema import Draft7Validator
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_valid_against_the_compose_specification(compose):
    errors = sorted(Draft7Validator(get_builtin_schema("vendor.compose-spec")).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_dependencies_and_volumes_exist(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose.get("volumes", {}), f"{name} mounts undeclared volume {source}"


def test_the_production_stack_is_all_there(compose):
    services = compose["services"]
    assert {"postgresql", "temporal", "temporal-ui", "api", "worker", "simulator", "migrate"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "postgres" in services["temporal"]["environment"]["DB"]
    # the app's processes run code that exists in this repository
    for name in ("api", "codec", "worker", "simulator", "channel-simulator", "sms-billing-simulator",
                 "temporal-setup", "migrate"):
        assert _runs_existing_code(services[name]["command"]), f"{name}: {services[name]['command']}"


def _runs_existing_code(command: list[str]) -> bool:
    if command[0] == "alembic":
        return (ROOT / "alembic.ini").exists()
    if command[0] == "uvicorn":  # uvicorn package.module:app
        return (ROOT / (command[1].split(":")[0].replace(".", "/") + ".py")).exists()
    if "-m" in command:  # python -m package.module
        return (ROOT / (command[command.index("-m") + 1].replace(".", "/") + ".py")).exists()
    return (ROOT / command[-1]).exists()  # python file.py


def test_no_secret_has_a_default():
    """A forgotten variable stops compose (`${X:?...}`) instead of starting with a key anyone can read."""
    import re

    text = (ROOT / "docker-compose.yml").read_text()
    defaults = re.findall(r"\$\{([A-Z_]*(?:SECRET|PASSWORD)[A-Z_]*):-", text)
    assert defaults == [], f"secrets with a default: {defaults}"
    assert "${PUSH_SECRETS:?" in text


def test_every_process_that_touches_payloads_has_the_key_ring_and_the_ui_asks_the_codec_server(compose):
    services = compose["services"]
    for name in ("api", "codec", "worker", "temporal-setup", "migrate"):
        assert "SIMBO_DATA_KEYS" in services[name]["environment"], name
    ui = services["temporal-ui"]["environment"]
    assert "8400" in ui["TEMPORAL_CODEC_ENDPOINT"] and ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert services["codec"]["image"] == services["api"]["image"]


def test_prometheus_and_grafana_watch_the_api_and_the_workers(compose):
    import json

    services = compose["services"]
    assert {"prometheus", "grafana", "jaeger"} <= set(services)
    for name in ("prometheus", "grafana"):
        for vol in services[name]["volumes"]:
            source = vol.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    scrape = YAML(typ="safe").load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["simbo-api"]["static_configs"][0]["targets"] == ["api:8000"]
    worker_env = services["worker"]["environment"]
    assert jobs["simbo-worker"]["dns_sd_configs"][0]["port"] == int(worker_env["SIMBO_WORKER_METRICS_ADDRESS"].split(":")[1])
    assert (ROOT / "deploy/prometheus/metrics-token").read_text().strip() == "change-me"  # the compose default token
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/simbo.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("simbo_orders", "simbo_refunds", "simbo_complaints_overdue", "simbo_commission_fen",
                   "temporal_activity_execution_failed", "schedule_action_delay"):
        assert metric in exprs, metric


def test_invoices_are_mailed_through_an_smtp_server_the_stack_names(compose):
    services = compose["services"]
    assert "simulators.mail_sink" in services["mail-sink"]["command"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["SIMBO_FINANCE_SMTP_HOST"] == "${FINANCE_SMTP_HOST:-mail-sink}", name
        assert env["SIMBO_FINANCE_SMTP_PORT"] == "${FINANCE_SMTP_PORT:-8025}", name
