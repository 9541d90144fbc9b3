"""Configuration: precedence, one-line errors naming file/key/value/allowed, and secrets kept secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from obmen.config.load import load_settings
from obmen.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "obmen.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_file_and_put_sqlite_in_the_state_dir(tmp_path: Path) -> None:
    settings = load_settings(None, env={"OBMEN_STATE_DIR": str(tmp_path)})
    assert settings.database.url == f"sqlite:///{tmp_path.resolve() / 'obmen.db'}"
    assert settings.worker.batch_size == 100


def test_environment_overrides_the_file_with_nested_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker]\nbatch_size = 50\nconcurrency = 3\n")
    settings = load_settings(path, env={"OBMEN_WORKER__BATCH_SIZE": "200"})
    assert (settings.worker.batch_size, settings.worker.concurrency) == (200, 3)


def test_a_bad_value_names_the_file_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, '[bitrix24]\nlimits = "fast"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value) == (
        f"{path}: bitrix24.limits = 'fast': input should be 'cloud', 'enterprise', 'off' or 'custom'"
    )


def test_an_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker]\nbatch_sise = 5\n")
    with pytest.raises(ConfigError, match=r"worker.batch_sise: unknown key \(did you mean 'batch_size'\?\)"):
        load_settings(path, env={})


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker\n")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 1"):
        load_settings(path, env={})


def test_a_secret_in_the_main_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert "OBMEN_SITE__PASSWORD" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_secrets_come_from_a_private_file_or_env_and_never_show(tmp_path: Path) -> None:
    secrets = write(tmp_path, '[onec]\npassword = "s3cret"\n', "secrets.toml")
    secrets.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_settings(None, env={"OBMEN_SECRETS_FILE": str(secrets)})
    secrets.chmod(0o600)
    settings = load_settings(None, env={"OBMEN_SECRETS_FILE": str(secrets), "OBMEN_SITE__PASSWORD": "pw2"})
    assert settings.onec.password is not None
    assert settings.onec.password.get_secret_value() == "s3cret"
    shown = f"{settings!r} {settings.public_dict()}"
    assert "s3cret" not in shown
    assert "pw2" not in shown


def test_an_invalid_secret_is_masked_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={"OBMEN_BITRIX24__WEBHOOK_USER": "abc"})
    assert "bitrix24.webhook_user = 'abc'" in str(info.value)


def test_the_cli_prints_one_line_and_exits_2_on_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker]\nbatch_size = -1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBMEN_")}
    done = subprocess.run(
        [sys.executable, "-m", "obmen", "status", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert (
        done.stderr == f"obmen: {path}: worker.batch_size = -1: input should be greater than or equal to 1\n"
    )


def test_mapping_tables_map_both_ways_and_fall_back_instead_of_dropping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mapping]\nsites = { s2 = "wholesale" }\n'
        "[mapping.pipelines.wholesale]\ncategory_id = 2\n"
        'status_to_stage = { N = "NEW", F = "WON" }\nstage_to_status = { "C2:LOSE" = "C" }\n'
        'fallback_stage = "PREPARATION"\nfallback_status = "P"\n',
    )
    mapping = load_settings(path, env={}).mapping
    wholesale = mapping.pipeline_for("s2")
    assert (wholesale.stage("N"), wholesale.stage("F")) == ("C2:NEW", "C2:WON")
    assert wholesale.stage("X") == "C2:PREPARATION"  # unmapped status: the declared fallback
    assert wholesale.status("C2:WON") == "F"
    # `C` is the cancellation: the lost stage says the order is cancelled, not a status (§2.11).
    assert (wholesale.status("C2:LOSE"), wholesale.cancels("C2:LOSE")) == ("P", True)
    assert (wholesale.reading("C2:LOSE"), wholesale.cancels("C2:WON")) == (None, False)
    assert wholesale.cancelled_stage() is None  # no row maps `C` to a stage: a cancellation moves no deal
    assert mapping.pipeline_for("s1").cancelled_stage() == "LOSE"
    assert wholesale.status("C2:UC_ODD") == "P"
    assert mapping.pipeline_for("s1").stage("F") == "WON"  # unlisted sites use the default pipeline
    assert mapping.onec_status_name("F") == "[F] Выполнен"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('sites = { s1 = "retail" }', "mapping = {'sites': {'s1': 'retail'}}: s1 names pipeline 'retail'"),
        (
            '[mapping.pipelines.default]\nstatus_to_stage = { N = "C2:NEW" }',
            "mapping.pipelines.default = {'status_to_stage': {'N': 'C2:NEW'}}: "
            "stage 'C2:NEW' is not in pipeline 0",
        ),
        (
            'order_properties = { NOTE = "COMMENTS" }',
            "mapping = {'order_properties': {'NOTE': 'COMMENTS'}}: deal field COMMENTS carries another order "
            "field",
        ),
        (
            'order_properties = { NOTE = "uf_crm_note" }',
            "mapping = {'order_properties': {'NOTE': 'uf_crm_note'}}: deal field 'uf_crm_note' is not",
        ),
        (
            'warehouses = { "Брак" = -1 }',
            "mapping = {'warehouses': {'Брак': -1}}: warehouses maps to store ids ≥ 1 (or 0: not counted)",
        ),
        (
            'catalog_properties = { sku = "CML2_ARTICLE" }',
            "mapping = {'catalog_properties': {'sku': 'CML2_ARTICLE'}}: catalog_properties takes article "
            "and barcode, not sku",
        ),
    ],
)
def test_mapping_mistakes_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, f"[mapping]\n{text}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value).startswith(f"{path}: {message}")


def test_the_annotated_example_file_is_valid_and_says_the_defaults() -> None:
    example = Path(__file__).parents[2] / "obmen.example.toml"
    settings = load_settings(example, env={})
    defaults = load_settings(None, env={})
    assert settings.mapping == defaults.mapping
    assert settings.worker == defaults.worker


def test_bitrix24_custom_limits_need_rate_and_burst(tmp_path: Path) -> None:
    custom = load_settings(
        write(tmp_path, '[bitrix24]\nlimits = "custom"\nrate = 4.5\nburst = 120\n'), env={}
    )
    assert (custom.bitrix24.rate, custom.bitrix24.burst) == (4.5, 120)
    for text, needed in (
        ('limits = "custom"\nrate = 4.5', 'limits = "custom" needs rate'),
        ("rate = 4.5\nburst = 120", 'rate and burst apply only to limits = "custom"'),
        ('limits = "custom"\nrate = 0\nburst = 5', "greater than 0"),
    ):
        with pytest.raises(ConfigError, match=needed):
            load_settings(write(tmp_path, f"[bitrix24]\n{text}\n"), env={})


def test_bitrix24_variations_poll_and_outgoing_token(tmp_path: Path) -> None:
    defaults = load_settings(None, env={}).bitrix24
    assert (defaults.variations, defaults.poll_every, defaults.outgoing_token) == (False, 30.0, None)
    path = write(tmp_path, "[bitrix24]\nvariations = true\npoll_every = 5\n")
    settings = load_settings(path, env={"OBMEN_BITRIX24__OUTGOING_TOKEN": "tok3n"})
    assert (settings.bitrix24.variations, settings.bitrix24.poll_every) == (True, 5.0)
    assert settings.bitrix24.outgoing_token is not None
    assert settings.bitrix24.outgoing_token.get_secret_value() == "tok3n"
    assert settings.public_dict()["bitrix24"]["outgoing_token"] == "***"
    # A secret: never from the main file, and never echoed.
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[bitrix24]\noutgoing_token = "tok3n"\n'), env={})
    assert "OBMEN_BITRIX24__OUTGOING_TOKEN" in str(info.value)
    assert "tok3n" not in str(info.value)


def test_site_crm_orders_keys_go_together_and_are_positive(tmp_path: Path) -> None:
    defaults = load_settings(None, env={}).site
    assert (defaults.crm_buyer_id, defaults.crm_pay_system_id, defaults.crm_delivery_id) == (None, None, None)
    given = "[site]\ncrm_buyer_id = 12\ncrm_pay_system_id = 3\ncrm_delivery_id = 1\n"
    site = load_settings(write(tmp_path, given), env={}).site
    assert (site.crm_buyer_id, site.crm_pay_system_id, site.crm_delivery_id) == (12, 3, 1)
    for text, said in (
        ("crm_buyer_id = 12", "go together"),
        ("crm_buyer_id = 0\ncrm_pay_system_id = 3\ncrm_delivery_id = 1", "greater than 0"),
    ):
        with pytest.raises(ConfigError, match=said):
            load_settings(write(tmp_path, f"[site]\n{text}\n"), env={})
