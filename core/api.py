"""API building blocks shared by the apps."""

from rest_framework import mixins, serializers, viewsets


def asset_field(**kwargs) -> serializers.RegexField:
    """An asset's symbol: letters and digits (USDT, BTC, 1INCH)."""
    return serializers.RegexField(r"^[A-Za-z0-9]{1,32}$", max_length=32, **kwargs)


class ServiceWriteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, retrieve, create and update, where the writes go through the app's services.

    Subclasses set `create_service(**validated_data)` and
    `update_service(instance, data)`; serializers only parse input.
    """

    create_service = None
    update_service = None

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).update_service(serializer.instance, serializer.validated_data)
