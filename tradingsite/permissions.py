"""API permissions: every endpoint needs a login; writes need the model permission."""

from rest_framework import permissions


class IsStaffOrReadOnlyAuthenticated(permissions.DjangoModelPermissions):
    """Reads for any authenticated user; writes need Django's add/change/delete perms.

    Views without a queryset (reports, health) fall back to authentication only.
    """

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return request.user.is_staff
        return super().has_permission(request, view)


class HasActionPermission(permissions.BasePermission):
    """For operator actions: the view names the exact permission (`action_permission`)."""

    def has_permission(self, request, view):
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if required is None:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(required))
