"""What `prefect deploy` of infra/prefect.yaml needs before it runs, checked so a deploy fails at deploy time.

Prefect 3.9 deploys with an unset `{{ $VAR }}` left as literal text (its templating keeps unresolved
placeholders), an unset `{{ prefect.variables.X }}` as "", and never looks for the blocks or work pools
its deployments name: such a deployment registers fine and fails on a worker at 2 a.m. These checks
turn each of those into one sentence now.
"""

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from prefect import get_client
from prefect.exceptions import ObjectNotFound

from flows.s3_blocks import load_s3_block

# `{{ $NAME }}` in prefect.yaml: an environment variable resolved when `prefect deploy` runs.
ENV_PLACEHOLDER = re.compile(r"{{\s*\$(\w+)\s*}}")
# `{{ prefect.variables.NAME }}`: a Prefect Variable read from the server when `prefect deploy` runs.
VARIABLE_PLACEHOLDER = re.compile(r"{{\s*prefect\.variables\.(\w+)\s*}}")
ENV_REPO_DIR = "CONCEPTS_REPO_DIR"
ENV_S3_BLOCK = "CONCEPTS_S3_BLOCK"


def deploy_problems(prefect_yaml: Path, env: Mapping[str, str]) -> list[str]:
    """Each thing that would make a deployment of `prefect_yaml` fail later, as a sentence; [] when none."""
    document = yaml.safe_load(prefect_yaml.read_text())
    problems = [
        f"{name} is not set: export it before deploying ({prefect_yaml.name} uses {{{{ ${name} }}}})"
        for name in sorted(set(_placeholders(document, ENV_PLACEHOLDER))) if not env.get(name, "").strip()
    ]
    repo_dir = env.get(ENV_REPO_DIR, "").strip()
    if repo_dir and not (Path(repo_dir) / "infra" / prefect_yaml.name).is_file():
        problems.append(f"{ENV_REPO_DIR}={repo_dir} is not a checkout of this project (no infra/{prefect_yaml.name} "
                        f"there): set it to the repository's path, the same on every worker")
    for block in sorted(set(_job_env_values(document, ENV_S3_BLOCK))):
        try:
            load_s3_block(block)
        except ValueError as exc:
            problems.append(str(exc))
    with get_client(sync_client=True) as client:
        # Prefect deploys a missing variable as "", which a parameter with choices (the model) refuses
        # with an HTTP 422 in the middle of the deploy, and which elsewhere deploys a blank setting.
        for name in sorted(set(_placeholders(document, VARIABLE_PLACEHOLDER))):
            if client.read_variable_by_name(name) is None:
                problems.append(f"Prefect Variable {name!r} is not set: `prefect variable set {name} <value>` "
                                f"(infra/README.md, \"Deployment configuration\")")
        for pool in sorted(set(_work_pool_names(document))):
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                problems.append(f"work pool {pool!r} does not exist: create it first "
                                f"(`prefect work-pool create {pool} --type process`)")
    return problems


def _placeholders(value, pattern: re.Pattern) -> Iterator[str]:
    """Names the pattern's placeholders give in the document's values (comments are not values)."""
    if isinstance(value, str):
        yield from pattern.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _placeholders(item, pattern)
    elif isinstance(value, list):
        for item in value:
            yield from _placeholders(item, pattern)


def _deployments(document: dict) -> Iterator[dict]:
    yield from document.get("deployments") or []


def _work_pool_names(document: dict) -> Iterator[str]:
    for deployment in _deployments(document):
        name = (deployment.get("work_pool") or {}).get("name")
        if name:
            yield name


def _job_env_values(document: dict, variable: str) -> Iterator[str]:
    for deployment in _deployments(document):
        env = ((deployment.get("work_pool") or {}).get("job_variables") or {}).get("env") or {}
        if env.get(variable):
            yield env[variable]
