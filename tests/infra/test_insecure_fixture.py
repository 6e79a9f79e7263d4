"""Every python-hcl2 rule must flag the insecure variant: a rule that cannot fail proves nothing."""

from __future__ import annotations

import pytest

from support.infra import infra_rules as rules

INSECURE = rules.load(rules.INSECURE)

# What each rule must report on the fixture (a fragment of each expected problem).
EXPECTED = {
    "secure defaults": [
        "enable_https defaults to False",
        "db_deletion_protection defaults to False",
        "db_skip_final_snapshot defaults to True",
        "redis_require_auth_token defaults to False",
    ],
    "database": [
        "storage_encrypted is not true",
        "publicly_accessible is not false",
        "sets a password in code",
        "not managed by RDS",
        "no final_snapshot_identifier",
    ],
    "redis": ["TLS in transit is off", "encryption at rest is off", "auth_token"],
    "buckets": ["public access", "no default encryption", "versioning", "without TLS"],
    "literal secrets": [
        "aws_db_instance.main.password is a literal secret",
        "variable registry_password has a default value",
        "a password in a URL",
        "a GitHub token",
    ],
    "credentials in plain environment": [
        "DATABASE_URL is in the plain environment",
        "api_env does not refuse",
    ],
    "services": ["does not ignore task_definition", "no circuit breaker", "public IPs"],
    "GitHub OIDC trust": ["audience is not pinned", "sub is not one repository"],
}


def test_every_rule_has_expectations():
    assert set(EXPECTED) == set(rules.RULES)


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_rule_flags_the_insecure_variant(name):
    problems = rules.RULES[name](INSECURE)
    for fragment in EXPECTED[name]:
        assert any(fragment in problem for problem in problems), (fragment, problems)


def test_wildcard_subject_through_a_local_is_refused():
    # The blueprint's sub comes from a local; a wildcard hidden there must still be caught.
    trust = rules.load(rules.BLUEPRINT)
    locals_with_wildcard = dict(trust.locals, github_subject="repo:example-org/*")
    tampered = rules.Terraform(
        trust.directory,
        trust.resources,
        trust.data,
        trust.variables,
        trust.outputs,
        locals_with_wildcard,
        trust.modules,
        trust.texts,
    )
    assert any("sub is not one repository" in p for p in rules.oidc_trust_problems(tampered))
