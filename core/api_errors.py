"""Map domain errors and database refusals to 4xx answers with a message a user can act on."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, constraint_name

from .resilience import INFRASTRUCTURE_OUTAGES, is_outage

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, INFRASTRUCTURE_OUTAGES) or (is_outage(exc) and not isinstance(exc, DomainError)):
        from .middleware import outage_response
        from .resilience import drop_broken_connections

        drop_broken_connections(pool=False)
        return outage_response(context["request"], exc)
    if isinstance(exc, DomainError):
        body = {"error": exc.code, "detail": exc.message}
        if exc.details:
            body["context"] = {k: str(v) for k, v in exc.details.items()}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        # A constraint caught what validation let through: refuse, say which rule.
        constraint = constraint_name(exc)
        log.warning("integrity error in API", extra={"constraint": constraint})
        return Response(
            {"error": "conflict", "detail": f"Refused by the database rule {constraint or 'integrity'}."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
