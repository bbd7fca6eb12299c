"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.core.exceptions import ValidationError


class ReadOnlyAdminMixin:
    """Rows the platform writes itself: operators look, and act only through actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


def refusal_on_form(form, exc: ValidationError) -> None:
    """A service's refusal shown where it belongs: on the field it names if the form has it, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ServiceAdmin(admin.ModelAdmin):
    """A model admin that writes through its app's services, so the admin refuses what the API refuses.

    `service_check(instance or None, data) -> data` runs in the form's clean (a refusal is shown on the form,
    nothing saved; what it returns, normalized, is what is saved); `service_create(**data)` and
    `service_update(instance, data)` write, given the fields the form edits.
    """

    @staticmethod
    def service_check(instance, data: dict) -> dict:
        return data

    service_create = None  # staticmethod(app_create)
    service_update = None  # staticmethod(app_update)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        check = self.service_check

        class ServiceForm(form_class):
            def clean(self):
                data = super().clean()
                try:
                    data.update(check(self.instance if self.instance.pk else None, dict(data)))
                except ValidationError as exc:
                    refusal_on_form(self, exc)
                return data

        ServiceForm.__name__ = form_class.__name__
        return ServiceForm

    def save_model(self, request, obj, form, change):
        editable = {f.name for f in obj._meta.concrete_fields if f.editable}
        data = {name: value for name, value in form.cleaned_data.items() if name in editable}
        if change:
            saved = self.service_update(type(obj)._default_manager.get(pk=obj.pk), data)
        else:
            saved = self.service_create(**data)
        obj.__dict__.update(saved.__dict__)
