"""Write settings and client files into a folder, as an operator would."""

from __future__ import annotations

import textwrap
from pathlib import Path

SETTINGS = """
clients_dir = "clients"
[database]
url = "sqlite:///var/data.db"
[keystore]
url = "sqlite:///var/keys.db"
[kms]
provider = "local"
key_file = "var/root.key"
[broker]
url = "inline"
[logging]
file = "var/ordervault.log"
"""

ACME = """
id = "acme"
name = "Acme Prints"

[retention]
days_after_delivery = 30

[[amazon]]
account = "acme-eu"
region = "eu"
marketplace_ids = ["A1PA6795UKMFR9"]
orders_api = "2026-01-01"
refresh_token = "env:ACME_SPAPI_REFRESH_TOKEN"
lwa_client_id = "env:SPAPI_LWA_CLIENT_ID"
lwa_client_secret = "file:../secrets/lwa_client_secret"

[[ebay]]
account = "acme-ebay"
site_id = 3
token = "env:ACME_EBAY_TOKEN"
app_id = "env:EBAY_APP_ID"
dev_id = "env:EBAY_DEV_ID"
cert_id = "env:EBAY_CERT_ID"

[[destinations]]
name = "erp"
type = "webhook"
url = "https://erp.acme.example/orders"
secret = "env:ACME_WEBHOOK_SECRET"
"""

ENVIRON = {
    "ACME_SPAPI_REFRESH_TOKEN": "Atzr|synthetic-refresh",
    "SPAPI_LWA_CLIENT_ID": "amzn1.application-oa2-client.synthetic",
    "ACME_EBAY_TOKEN": "v^1.1#synthetic",
    "EBAY_APP_ID": "synthetic-app-id-7f3a",
    "EBAY_DEV_ID": "synthetic-dev-id-91c2",
    "EBAY_CERT_ID": "synthetic-cert-id-4d0e",
    "ACME_WEBHOOK_SECRET": "whsec-synthetic",
}


def write_config(
    root: Path, clients: dict[str, str] | None = None, settings: str = SETTINGS
) -> Path:
    """Create ordervault.toml, clients/*.toml and a file secret under `root`."""
    (root / "clients").mkdir(parents=True, exist_ok=True)
    (root / "secrets").mkdir(exist_ok=True)
    (root / "secrets" / "lwa_client_secret").write_text("synthetic-lwa-secret\n")
    path = root / "ordervault.toml"
    path.write_text(textwrap.dedent(settings))
    for client_id, text in (clients if clients is not None else {"acme": ACME}).items():
        (root / "clients" / f"{client_id}.toml").write_text(textwrap.dedent(text))
    return path
