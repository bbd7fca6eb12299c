"""API permissions: every endpoint needs a login; reads need the model's view permission, writes its
add/change/delete permission, operator actions the exact permission they name (refused when none is named)."""

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions for every method, reads included (GET needs `<app>.view_<model>`).

    A view without a queryset (reports) names what it needs in `required_permissions`; with none named it is
    for staff only.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            required = getattr(view, "required_permissions", None)
            if required is None:
                return request.user.is_staff
            return request.user.has_perms(required)
        return super().has_permission(request, view)


class HasActionPermission(permissions.BasePermission):
    """For operator actions: the view maps each action to the exact permission (`action_permissions`).

    Fails closed: an action the map does not name is refused, so a new action cannot ship unguarded.
    """

    message = "This action needs a permission that you do not have."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if required is None:
            self.message = f"The action {getattr(view, 'action', None)!r} names no permission: refused."
            return False
        return request.user.has_perm(required)
