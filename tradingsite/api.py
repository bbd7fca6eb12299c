"""API building blocks shared by the apps."""

from rest_framework import mixins, viewsets


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
