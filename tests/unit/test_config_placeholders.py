"""A settings file copied from deploy/console.env.example and not filled in must not start."""

from __future__ import annotations

import pytest

from console.config import ConfigError, load_settings


@pytest.mark.parametrize("env", ["production", "development"])
def test_the_templates_secret_placeholder_is_refused(tmp_path, env) -> None:
    environ = {"CONSOLE_ENV": env, "CONSOLE_SECRET_KEY": "<64-hex-characters>", "CONSOLE_INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="placeholder.*token_hex"):
        load_settings(environ=environ)
    environ["CONSOLE_SECRET_KEY"] = "0123456789abcdef" * 4
    assert load_settings(environ=environ).secret_key == "0123456789abcdef" * 4
