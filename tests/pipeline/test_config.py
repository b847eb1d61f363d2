"""Settings and client files load strictly and report every problem with file, field, reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, Problem, load_config
from pipeline.secrets import Secret
from tests.configs import ACME, ENVIRON, write_config


def problems_of(path: Path, environ: dict[str, str] = ENVIRON) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    return list(caught.value.problems)


def test_the_design_example_loads_with_paths_and_secrets_resolved(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), environ=ENVIRON)
    settings = config.settings
    assert settings.database.url == f"sqlite:///{tmp_path / 'var' / 'data.db'}"
    assert settings.keystore.url == f"sqlite:///{tmp_path / 'var' / 'keys.db'}"
    assert settings.kms.key_file == str(tmp_path / "var" / "root.key")
    acme = config.client("acme")
    assert acme.amazon[0].refresh_token.reveal() == "Atzr|synthetic-refresh"
    assert acme.amazon[0].lwa_client_secret.reveal() == "synthetic-lwa-secret"
    assert acme.destinations[0].name == "erp"
    assert acme.retention_days == 30


def test_secrets_never_show_in_repr_or_str(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), environ=ENVIRON)
    text = repr(config) + str(config.client("acme"))
    for value in ENVIRON.values():
        assert value not in text
    assert isinstance(config.client("acme").ebay[0].token, Secret)


def test_wrong_type_names_file_field_and_reason(tmp_path: Path) -> None:
    bad = ACME.replace("site_id = 3", 'site_id = "3"')
    [problem] = problems_of(write_config(tmp_path, {"acme": bad}))
    assert problem.file == str(tmp_path / "clients" / "acme.toml")
    assert problem.field == "ebay[0].site_id"
    assert "valid integer" in problem.reason
    assert "got str" in problem.reason


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    bad = ACME.replace('region = "eu"', 'region = "eu"\nregoin = "eu"')
    [problem] = problems_of(write_config(tmp_path, {"acme": bad}))
    assert (problem.field, problem.reason) == ("amazon[0].regoin", "unknown key")


def test_inline_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    bad = ACME.replace('secret = "env:ACME_WEBHOOK_SECRET"', 'secret = "hunter2-inline"')
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"acme": bad}), environ=ENVIRON)
    [problem] = caught.value.problems
    assert problem.field == "destinations[0].secret"
    assert "inline secret not allowed" in problem.reason
    assert "hunter2" not in str(caught.value)


def test_amazon_retention_over_30_days_needs_a_legal_basis(tmp_path: Path) -> None:
    bad = ACME.replace("days_after_delivery = 30", "days_after_delivery = 45")
    [problem] = problems_of(write_config(tmp_path, {"acme": bad}))
    assert problem.field == "retention.days_after_delivery"
    assert "Amazon" in problem.reason
    assert "legal_basis" in problem.reason
    allowed = bad.replace(
        "days_after_delivery = 45", 'days_after_delivery = 45\nlegal_basis = "HGB 257"'
    )
    load_config(write_config(tmp_path, {"acme": allowed}), environ=ENVIRON)


def test_ebay_only_clients_may_keep_up_to_90_days(tmp_path: Path) -> None:
    ebay_only = ACME.split("[[amazon]]")[0] + "[[ebay]]" + ACME.split("[[ebay]]")[1]
    ok = ebay_only.replace("days_after_delivery = 30", "days_after_delivery = 90")
    load_config(write_config(tmp_path, {"acme": ok}), environ=ENVIRON)
    [problem] = problems_of(write_config(tmp_path, {"acme": ok.replace("= 90", "= 91")}))
    assert "eBay" in problem.reason


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    bad = (
        ACME.replace("site_id = 3", 'site_id = "3"')
        .replace('region = "eu"', 'region = "eu"\nregoin = "eu"')
        .replace('secret = "env:ACME_WEBHOOK_SECRET"', 'secret = "inline"')
        .replace("days_after_delivery = 30", "days_after_delivery = 45")
    )
    other = ACME.replace('id = "acme"', 'id = "other"').replace(
        'refresh_token = "env:ACME_SPAPI_REFRESH_TOKEN"', 'refresh_token = "env:MISSING_VAR"'
    )
    problems = problems_of(write_config(tmp_path, {"acme": bad, "other": other}))
    fields = {(Path(p.file).name, p.field) for p in problems}
    assert fields == {
        ("acme.toml", "ebay[0].site_id"),
        ("acme.toml", "amazon[0].regoin"),
        ("acme.toml", "destinations[0].secret"),
        ("acme.toml", "retention.days_after_delivery"),
        ("other.toml", "amazon[0].refresh_token"),
    }, problems
    missing = next(p for p in problems if p.field == "amazon[0].refresh_token")
    assert missing.reason == "environment variable MISSING_VAR is not set"


def test_plain_http_webhook_only_to_loopback_when_allowed(tmp_path: Path) -> None:
    plain = ACME.replace("https://erp.acme.example/orders", "http://erp.acme.example/orders")
    [problem] = problems_of(write_config(tmp_path, {"acme": plain}))
    assert problem.field == "destinations[0].url"
    loop = ACME.replace(
        'url = "https://erp.acme.example/orders"',
        'url = "http://127.0.0.1:9000/orders"\ninsecure_loopback = true',
    )
    load_config(write_config(tmp_path, {"acme": loop}), environ=ENVIRON)
    not_loop = loop.replace("127.0.0.1", "10.0.0.5")
    [problem] = problems_of(write_config(tmp_path, {"acme": not_loop}))
    assert "loopback" in problem.reason


def test_a_webhook_url_the_http_client_cannot_parse_is_a_config_error(tmp_path: Path) -> None:
    # urlsplit accepts a host of four octal octets; httpx refuses it when the worker starts.
    odd = ACME.replace("https://erp.acme.example/orders", "https://0251.0376.0251.0376/")
    [problem] = problems_of(write_config(tmp_path, {"acme": odd}))
    assert (problem.field, problem.reason) == ("destinations[0].url", "not a URL")
    assert "0251" not in problem.reason


def test_keystore_must_not_share_the_data_database(tmp_path: Path) -> None:
    settings = '[database]\nurl = "sqlite:///var/x.db"\n[keystore]\nurl = "sqlite:///var/x.db"\n'
    [problem] = problems_of(write_config(tmp_path, settings=settings))
    assert problem.field == "keystore.url"


def test_client_id_must_match_its_file_name(tmp_path: Path) -> None:
    [problem] = problems_of(write_config(tmp_path, {"acme-two": ACME}))
    assert problem.field == "id"
    assert "acme-two" in problem.reason


def test_pii_policy_names_only_known_pii_fields(tmp_path: Path) -> None:
    ok = ACME + '\n[pii]\ndrop = ["shipping_address.phone", "items.gift_message"]\n'
    config = load_config(write_config(tmp_path, {"acme": ok}), environ=ENVIRON)
    assert config.client("acme").pii.drop == ["shipping_address.phone", "items.gift_message"]
    bad = ACME + '\n[pii]\ndrop = ["marketplace_order_id"]\n'
    [problem] = problems_of(write_config(tmp_path, {"acme": bad}))
    assert problem.field == "pii.drop"
    assert "not PII fields" in problem.reason


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nope.toml")
    assert problem.reason == "file not found"
    [problem] = problems_of(write_config(tmp_path, {"acme": "id = "}))
    assert problem.field == "(file)"
    assert "not valid TOML" in problem.reason


def test_omitted_sections_resolve_their_default_paths_against_the_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {}, settings="# all defaults\n"), environ=ENVIRON)
    settings = config.settings
    assert settings.kms.key_file == str(tmp_path / "var" / "root.key")
    assert settings.database.url == f"sqlite:///{tmp_path / 'var' / 'data.db'}"
    assert settings.keystore.url == f"sqlite:///{tmp_path / 'var' / 'keys.db'}"
    assert settings.logging.file == str(tmp_path / "var" / "ordervault.log")
    assert settings.clients_dir == str(tmp_path / "clients")
