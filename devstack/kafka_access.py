"""Who may do what on the cluster (``stack up --brokers 3``): SCRAM principals and their ACLs.

The cluster's client listener authenticates every client (SASL/SCRAM-SHA-512) and the
StandardAuthorizer denies whatever no ACL allows. In a CDC design only the connector writes the
aggregate and command topics, so:

- ``connect`` (the Connect workers, and Debezium's own clients) writes the routed topics, its
  heartbeat and schema-history topics and its own internal topics, in its own group, with its
  own transactional ids (exactly-once source);
- each service's principal (its consumer group's name) reads its inputs, uses its own group,
  and writes only its own dead-letter and retry topics; the order service also reads what it
  measures for its saga deadlines (the flow's topics and groups, the connectors' heartbeats);
- ``admin`` is a super user: the operator's tools, the API's operations page, the tests.

The passwords are generated like the database's (stack.env, mode 0600); the roster comes from
the services' own definitions.
"""

from __future__ import annotations

import secrets

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported without __all__
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from devstack.console import say
from devstack.errors import StackError
from outboxkit.ops import (
    ADMIN_PRINCIPAL as ADMIN,
    CONNECT_PRINCIPAL as CONNECT,
    access_roster as roster,
    admin_client,
    kafka_grants as all_grants,
    kafka_principals as principals,
    password_key,
)

__all__ = [
    "ADMIN",
    "CONNECT",
    "MECHANISM",
    "all_grants",
    "ensure_access",
    "new_passwords",
    "principals",
    "roster",
]

MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192


def new_passwords(existing: dict[str, str]) -> dict[str, str]:
    """Every principal's password: the one stack.env has, else a new one."""
    return {password_key(p): existing.get(password_key(p)) or secrets.token_urlsafe(24) for p in principals()}


def admin_login(env: dict[str, str]) -> dict[str, str]:
    return {
        "security.protocol": env["KAFKA_SECURITY_PROTOCOL"],
        "sasl.mechanism": env["KAFKA_SASL_MECHANISM"],
        "sasl.username": ADMIN,
        "sasl.password": env[password_key(ADMIN)],
    }


def ensure_access(bootstrap_servers: str, env: dict[str, str]) -> None:
    """Create (or reset) every principal's SCRAM credential and add every grant, as admin."""
    admin = admin_client(bootstrap_servers, **admin_login(env))
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            principal,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            env[password_key(principal)].encode(),
        )
        for principal in principals()
        if principal != ADMIN
    ]
    for principal, future in admin.alter_user_scram_credentials(upserts).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise StackError(f"kafka: the SCRAM credential of {principal} could not be set: {exc}") from exc
    grants = all_grants()
    bindings = [binding for grant in grants for binding in grant.bindings()]
    for binding, future in admin.create_acls(bindings, request_timeout=30).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise StackError(f"kafka: the ACL {binding} could not be created: {exc}") from exc
    say(f"kafka: {len(upserts)} principals and {len(bindings)} ACLs ensured (devstack/kafka_access.py)")
