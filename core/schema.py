"""OpenAPI schema refinements, so the schema says what the API accepts (drf-spectacular extensions).

Decimals travel as strings (no float rounding of money); drf-spectacular gives them a pattern that allows any
sign, while our fields carry their bounds. The pattern here allows only what the bounds allow: no sign where
the minimum is zero or more, no zero where it is above zero. Related objects are ids from 1 up.
"""

from decimal import Decimal

from drf_spectacular.extensions import OpenApiSerializerFieldExtension


class BoundedDecimalField(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.DecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        low = field.min_value
        if low is None or "pattern" not in schema:
            return schema
        whole = max(1, field.max_digits - field.decimal_places) if field.max_digits else 18
        places = field.decimal_places if field.decimal_places is not None else 18
        number = rf"\d{{1,{whole}}}(?:\.\d{{1,{places}}})?" if places else rf"\d{{1,{whole}}}"
        not_zero = r"(?!0+(?:\.0+)?$)" if Decimal(low) > 0 else ""
        schema["pattern"] = rf"^{not_zero}{number}$"
        schema["description"] = (
            schema.get("description", "")
            + f" (at least {low}"
            + (f", at most {field.max_value})" if field.max_value is not None else ")")
        ).strip()
        return schema


class PositiveId(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.relations.PrimaryKeyRelatedField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if schema.get("type") == "integer":
            schema.setdefault("minimum", 1)
        return schema
