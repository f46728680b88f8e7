"""compose.yaml must run the versions stack/versions.env pins for the native stack."""

import re

from eventcore.settings import REPO_ROOT, read_env_file

VERSIONS = read_env_file(REPO_ROOT / "stack" / "versions.env")
COMPOSE = (REPO_ROOT / "compose.yaml").read_text()


def image_tag(image: str) -> str:
    match = re.search(rf"image: {re.escape(image)}:(\S+)", COMPOSE)
    assert match, f"{image} not in compose.yaml"
    return match.group(1)


def test_compose_images_match_the_pinned_versions():
    assert image_tag("apache/kafka") == VERSIONS["KAFKA_VERSION"]
    assert image_tag("quay.io/debezium/connect") == VERSIONS["DEBEZIUM_VERSION"]
    assert image_tag("apicurio/apicurio-registry") == VERSIONS["APICURIO_VERSION"]
    assert image_tag("mysql") == VERSIONS["MYSQL_IMAGE_VERSION"]


def test_compose_writes_no_password_and_binds_to_loopback():
    for line in COMPOSE.splitlines():
        if "PASSWORD:" in line:
            assert "${" in line and ":?" in line, line
    ports = re.findall(r'- "([^"]+)"', COMPOSE)
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert {p.split(":")[1] for p in ports} == {"3307", "9092", "8081", "8083"}
