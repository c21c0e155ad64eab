"""Form pieces shared by the admin: write-only secret inputs."""

from typing import Any

from django import forms

from core.secrets import Secret


class SecretFormField(forms.CharField):
    """A password-style input that never renders the stored value back to the browser."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs["strip"] = True
        super().__init__(
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}), **kwargs
        )

    def prepare_value(self, value: Any) -> str:
        return ""  # write-only: whatever is stored, the page shows nothing

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(data)


class WriteOnlySecretsFormMixin:
    """ModelForm mixin: a blank secret input keeps the stored secret instead of erasing it."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        for name in self.secret_fields:
            field = self.fields.get(name)
            if field is None:
                continue
            is_set = bool(instance is not None and instance.pk and getattr(instance, name, ""))
            field.required = False
            field.widget.attrs["placeholder"] = "•••••••• stored (type to replace)" if is_set else "not set"
            field.help_text = (
                "Stored encrypted and never shown again. Leave blank to keep the current value."
                if is_set
                else "Stored encrypted and never shown again."
            )

    def _post_clean(self) -> None:
        instance = getattr(self, "instance", None)
        for name in self.secret_fields:
            if name in self.cleaned_data and not self.cleaned_data[name] and instance is not None and instance.pk:
                current = getattr(instance, name, "")
                if isinstance(current, Secret) and current:
                    self.cleaned_data[name] = current
        super()._post_clean()
