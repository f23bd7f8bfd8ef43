"""django-scim2's documented setup: models with its SCIM mixins (scim_id, scim_external_id,
scim_username, scim_display_name), the user's groups through `scim_groups`."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class Group(AbstractSCIMGroupMixin):
    name = models.CharField(max_length=150)


class User(AbstractSCIMUserMixin, AbstractUser):
    # The Entra user the benchmark sends has a title; PATCH replaces it.
    title = models.CharField(max_length=150, blank=True, default="")
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)
