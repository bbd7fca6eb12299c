"""The API's pagination: limit/offset with bounds, so no query string reaches the database as an out-of-range
number (a limit is at most API_MAX_PAGE_SIZE; an offset past API_MAX_OFFSET is refused with a 400)."""

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    @property
    def max_limit(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def get_offset(self, request) -> int:
        offset = super().get_offset(request)
        if offset > settings.API_MAX_OFFSET:
            raise ValidationError({"offset": f"at most {settings.API_MAX_OFFSET}; narrow the query with filters"})
        return offset

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"] |= {"minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE}
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"] |= {"minimum": 0, "maximum": settings.API_MAX_OFFSET}
        return parameters
