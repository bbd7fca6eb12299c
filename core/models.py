"""Rows the cross-cutting pieces keep for themselves."""

from django.db import models


class WriteBehindMark(models.Model):
    """The last write-behind flush applied per model: a flush that died after committing is not applied twice."""

    label = models.CharField(max_length=100, primary_key=True)
    generation = models.BigIntegerField()
    flushed_at = models.DateTimeField()

    class Meta:
        verbose_name = "write-behind flush mark"

    def __str__(self) -> str:
        return f"{self.label} @ {self.generation}"
