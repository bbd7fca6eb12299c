"""The process manager: every Procfile process is supervised and restarted, and has a systemd unit."""

import re
import subprocess
import sys
from configparser import RawConfigParser
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _procfile() -> dict[str, str]:
    entries = (line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    return {name.strip(): command.strip() for name, _, command in entries}


def test_the_supervisord_config_supervises_and_restarts_every_procfile_process():
    subprocess.run([sys.executable, "scripts/supervisord_conf.py"], cwd=ROOT, check=True, capture_output=True)
    config = RawConfigParser()
    config.read(ROOT / "var" / "supervisord.conf")
    programs = {section.split(":", 1)[1]: config[section] for section in config.sections()
                if section.startswith("program:")}  # fmt: skip
    assert set(programs) == set(_procfile())
    for name, program in programs.items():
        assert program["autorestart"] == "true", name
        assert program["stdout_logfile"] == "/dev/stdout", name  # one terminal
        assert program["command"].startswith(f"{ROOT}/scripts/prefixed {name} "), name
        assert "${" not in program["command"], name  # Procfile variables became supervisor's %(ENV_…)s


def test_every_procfile_kind_has_a_systemd_unit_that_always_restarts():
    units = {path.name: path.read_text() for path in (ROOT / "deploy" / "systemd").glob("*.service")}
    for name, command in _procfile().items():
        program = re.search(r"(gunicorn|celery -A tradingsite (?:worker|beat|flower)|manage\.py \w+)", command).group(1)
        matching = [unit for unit, text in units.items() if program in text]
        assert matching, f"no systemd unit runs {program} ({name})"
    for unit, text in units.items():
        assert "Restart=always" in text, unit
        assert "EnvironmentFile=/etc/tradingsite/tradingsite.env" in text, unit


def test_a_procfile_default_stands_in_for_a_variable_the_environment_lacks(tmp_path):
    """supervisor has no default syntax: %(ENV_X)s of a variable it lacks refuses the whole file (the bench's
    platform, started without the Makefile's exports, did not start)."""
    import os

    conf = tmp_path / "supervisord.conf"
    bare = {k: v for k, v in os.environ.items() if k != "WALLET_CLOB_PORT"}
    subprocess.run([sys.executable, "scripts/supervisord_conf.py", str(conf)], cwd=ROOT, check=True, env=bare)
    assert "--clob-port 0" in conf.read_text()
    subprocess.run([sys.executable, "scripts/supervisord_conf.py", str(conf)], cwd=ROOT, check=True,
                   env=bare | {"WALLET_CLOB_PORT": "8766"})  # fmt: skip
    assert "--clob-port %(ENV_WALLET_CLOB_PORT)s" in conf.read_text()
