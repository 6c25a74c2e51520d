"""Roles inside an organization, ordered: a higher rank can do everything a lower one can."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    def at_least(self, other: Role | str) -> bool:
        return self.rank >= _RANK[Role(other).value]


_RANK = {"viewer": 10, "member": 20, "operator": 30, "admin": 40, "owner": 50}
