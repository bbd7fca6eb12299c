"""manage.py load_strategy FILE: create or update a strategy from its YAML."""

from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from cycles.strategies import strategy_load
from cycles.strategy_config import StrategyConfigError


class Command(BaseCommand):
    help = "Create or update a strategy from a YAML file (see configs/strategies/)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **opts):
        for path in opts["files"]:
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise CommandError(f"{path}: no such file") from exc
            except IsADirectoryError as exc:
                raise CommandError(f"{path}: a directory, not a strategy file") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
            except OSError as exc:
                raise CommandError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
            except yaml.YAMLError as exc:
                raise CommandError(f"{path}: not valid YAML: {exc}") from exc
            try:
                strategy, created = strategy_load(data)
            except StrategyConfigError as exc:
                raise CommandError(f"{path}:\n  " + "\n  ".join(exc.problems)) from exc
            except ValidationError as exc:
                problems = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
                raise CommandError(f"{path}:\n  " + "\n  ".join(problems)) from exc
            except DomainError as exc:
                raise CommandError(f"{path}: {exc.message}") from exc
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} strategy {strategy.name} on {strategy.exchange.name} (id {strategy.pk})")
