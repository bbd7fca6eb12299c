"""Outages answered honestly: a request that meets a lost PostgreSQL or Redis gets a 503 with a short message
(JSON under /api/ and /healthz), never a 500 traceback; the next request after the service returns just works
(pooled connections are health-checked before use)."""

import logging

from django.http import HttpResponse, JsonResponse

from .resilience import INFRASTRUCTURE_OUTAGES, drop_broken_connections, is_outage, service_of

log = logging.getLogger("tradingsite.outages")


def outage_response(request, exc: BaseException) -> HttpResponse:
    service = service_of(exc)
    message = f"{'PostgreSQL' if service == 'postgres' else 'Redis'} is unavailable; try again shortly."
    log.warning("%s %s: %s unavailable: %s", request.method, request.path, service, type(exc).__name__)
    if request.path.startswith(("/api/", "/healthz")) or "json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": "service_unavailable", "detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "5"
    return response


class OutageMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except INFRASTRUCTURE_OUTAGES as exc:  # raised past the view layer (a middleware's own query)
            drop_broken_connections(pool=False)
            return outage_response(request, exc)

    def process_exception(self, request, exc):
        if isinstance(exc, INFRASTRUCTURE_OUTAGES) or (is_outage(exc) and service_of(exc) != "venue"):
            drop_broken_connections(pool=False)
            return outage_response(request, exc)
        return None
