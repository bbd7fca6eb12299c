"""manage.py load_strategy FILE: create or update a strategy from its YAML."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.cli import read_yaml
from core.errors import DomainError
from cycles.strategies import strategy_load
from cycles.strategy_config import StrategyConfigError


class Command(BaseCommand):
    help = "Create or update a strategy from a YAML file (see configs/strategies/)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **opts):
        for path in opts["files"]:
            data = read_yaml(path, what="a strategy file")
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
