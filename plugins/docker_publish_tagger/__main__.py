"""docker-publish-tagger: build the image, give it unique tags, push with auth, hand off the digest."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from plugins.docker_publish_tagger.plan import PublishPlan, make_plan
from plugins.docker_publish_tagger.settings import DECLARATION
from shared.auth import SecretDir, registry_auth
from shared.ci import read_context
from shared.log import Log
from shared.preflight import check_docker_socket
from shared.runner import run_plugin
from shared.settings import Values

README = Path(__file__).with_name("README.md")


def execute(values: Values, log: Log) -> int:
    # The clients load only once the settings are valid: a settings error exits before they are imported.
    from plugins.docker_publish_tagger.preflight import check_sources

    # Settings -> plan (pure) -> input checks: everything that can be wrong with the input fails here.
    plan = make_plan(values, read_context(os.environ, values), os.environ, datetime.now(UTC))
    log.mask(*(plan.build.build_args[name] for name in plan.build.secret_args))
    log.mask(*(os.environ[s.env] for s in plan.build.secrets if s.env))
    check_sources(plan.build)
    auth = registry_auth(values, plan.destination.registry)
    log.mask(auth["password"] if auth else None)  # a password read out of docker_config is a secret of its own
    log.heading("plan")
    for warning in plan.warnings:
        log.warn(warning)
    log.info("\n".join(plan.describe()))
    with SecretDir() as secrets:
        ca_file = str(secrets.write("registry-ca.pem", plan.destination.ca)) if plan.destination.ca else ""
        if plan.build.builder == "buildkit":
            return _with_buildkit(plan, values, auth, ca_file, secrets, log)
        return _with_engine(plan, values, auth, ca_file, log)


def _with_engine(plan: PublishPlan, values: Values, auth: dict[str, str] | None, ca_file: str, log: Log) -> int:
    from plugins.docker_publish_tagger.preflight import engine_api_version

    check_docker_socket(values.docker_host)  # before building: a socket we cannot open fails here, not mid-push
    api_version = engine_api_version(values.docker_host)
    # Only now the Docker SDK and requests: the engine has been asked (the first request) while they were not loaded.
    from plugins.docker_publish_tagger.build import connect
    from plugins.docker_publish_tagger.publish import publish
    from plugins.docker_publish_tagger.registry import Registry

    client = connect(values.docker_host, api_version)
    try:
        publish(plan, client, Registry(plan.destination, auth, log, ca_file=ca_file), auth, log)
    finally:
        client.close()
    return 0


def _with_buildkit(
    plan: PublishPlan, values: Values, auth: dict[str, str] | None, ca_file: str, secrets: SecretDir, log: Log
) -> int:
    from plugins.docker_publish_tagger.buildkit import write_client_files
    from plugins.docker_publish_tagger.buildkit_publish import publish_buildkit
    from plugins.docker_publish_tagger.registry import Registry

    tls = {"ca": values.buildkit_ca, "cert": values.buildkit_cert, "key": values.buildkit_key}
    files = write_client_files(secrets, auth, values.docker_config, tls)
    for secret in plan.build.secrets:  # a file's content is as secret as a variable's
        if secret.file and secret.file.stat().st_size < 65536:
            log.mask(secret.file.read_text(errors="replace").strip() or None)
    # The secrets' own variables only: buildctl reads them by name (`--secret id=npm,env=NPM_TOKEN`).
    env = {s.env: os.environ[s.env] for s in plan.build.secrets if s.env}
    publish_buildkit(plan, Registry(plan.destination, auth, log, ca_file=ca_file), files, env, log)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
