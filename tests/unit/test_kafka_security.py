"""How the Kafka clients authenticate, from the settings (pure: no broker)."""

from __future__ import annotations

import pytest

from outboxkit.base.settings import Settings, SettingsError
from outboxkit.cdc.connectors import connect_kafka_login
from outboxkit.kafka.clients import password_key


def test_plaintext_adds_nothing_and_sasl_logs_in_with_the_named_principal():
    assert Settings({}).kafka_security == {}
    sasl = Settings(
        {"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_USERNAME": "admin", "KAFKA_PASSWORD": "secret"}
    ).kafka_security
    assert sasl == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": "secret",
    }


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "KERBEROS"}, "KAFKA_SECURITY_PROTOCOL='KERBEROS' is not one of"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "GSSAPI",
                "KAFKA_USERNAME": "a",
                "KAFKA_PASSWORD": "b",
            },
            "KAFKA_SASL_MECHANISM='GSSAPI' is not one of",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "setting KAFKA_USERNAME is not set"),
    ],
)
def test_a_wrong_security_setting_is_named(values, fragment):
    with pytest.raises(SettingsError, match=fragment):
        _ = Settings(values).kafka_security


def test_connect_logs_in_as_its_own_principal_with_its_password_left_to_the_config_provider():
    settings = Settings(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_USERNAME": "admin",
            "KAFKA_PASSWORD": "x",
            "KAFKA_SSL_CA_LOCATION": "/etc/kafka/ca.pem",
        }
    )
    login = connect_kafka_login(settings)
    assert login["security.protocol"] == "SASL_SSL" and login["sasl.mechanism"] == "SCRAM-SHA-512"
    assert login["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="connect" password="${env:CONNECT_KAFKA_PASSWORD}";'
    )
    assert login["ssl.truststore.location"] == "/etc/kafka/ca.pem"
    assert "x" not in str(login)  # the operator's password never goes to Connect
    assert connect_kafka_login(Settings({})) == {}


def test_each_principal_has_its_own_password_setting():
    assert password_key("admin") == "KAFKA_PASSWORD"
    assert password_key("order-service") == "ORDER_SERVICE_KAFKA_PASSWORD"
    assert password_key("connect") == "CONNECT_KAFKA_PASSWORD"
