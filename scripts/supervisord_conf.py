"""Write var/supervisord.conf from the Procfile: one supervised program per line, restarted whenever it exits.

`make run` starts supervisord with it in the foreground: every process's log in one terminal (each line
prefixed with its name by scripts/prefixed), and a process that exits (a crash, an outage it could not ride
out) started again after a short pause. Ctrl-C stops them all. The Procfile stays the one list of processes.
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HEADER = """\
; Written by scripts/supervisord_conf.py from the Procfile: edit the Procfile, not this file.
[supervisord]
nodaemon=true
logfile=%(here)s/supervisord.log
logfile_maxbytes=5MB
logfile_backups=1
pidfile=%(here)s/supervisord.pid
directory={root}

[unix_http_server]
file=%(here)s/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/supervisor.sock
"""

PROGRAM = """
[program:{name}]
command={root}/scripts/prefixed {name} {command}
directory={root}
autostart=true
autorestart=true
startsecs=3
startretries=1000000
stopsignal=TERM
stopwaitsecs=20
stopasgroup=true
killasgroup=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true
"""


def to_supervisor(command: str, environ=os.environ) -> str:
    """Procfile `${VAR:-default}` becomes supervisor's `%(ENV_VAR)s` when VAR is set (the Makefile exports it), and
    its default when it is not (supervisor's own syntax has none: it would refuse the whole file); `%` escaped."""
    command = command.replace("%", "%%")

    def variable(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        return f"%(ENV_{name})s" if name in environ or default is None else default

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", variable, command)


def main() -> int:
    procfile = ROOT / "Procfile"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "var" / "supervisord.conf"  # benches: their own
    out.parent.mkdir(exist_ok=True)
    parts = [HEADER.format(root=ROOT)]
    for line in procfile.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        parts.append(PROGRAM.format(name=name.strip(), command=to_supervisor(command.strip()), root=ROOT))
    out.write_text("".join(parts))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
