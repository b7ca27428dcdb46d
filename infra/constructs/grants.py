"""Who can be granted access: workload identities, service agents and people or groups."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from cdktn import TerraformResource


class Grantee(Protocol):
    """Anything a resource can grant a role to."""

    @property
    def member(self) -> str:
        """The IAM member string, e.g. `serviceAccount:runner@p.iam.gserviceaccount.com`."""

    @property
    def grant_id(self) -> str:
        """A short, stable name used in the construct ids of the grants it receives."""


def granted(grantee: Grantee, grant: TerraformResource) -> TerraformResource:
    """Note that `grant` gives `grantee` access, so that what `grantee` creates can wait for it
    (identities keep `received`; other principals need nothing)."""
    received = getattr(grantee, "received", None)
    if received is not None:
        received.append(grant)
    return grant


@dataclass(frozen=True)
class Principal:
    """A member that is not a construct of this app: a group, a user, a Google service agent."""

    member: str
    grant_id: str

    @classmethod
    def of(cls, member: str) -> Principal:
        """A principal named after its member, e.g. `group:ml@acme.com` -> `group-ml-acme-com`."""
        return cls(member=member, grant_id=re.sub(r"[^a-z0-9]+", "-", member.lower()).strip("-"))

    @classmethod
    def each_of(cls, members: Sequence[str]) -> list[Principal]:
        """The principals of distinct members granted side by side (a team's owners, predict's
        invokers): each named after its member, and where a name is taken by a member listed
        earlier (`user:anna.b@acme.com`, then `user:anna-b@acme.com`) it ends with a hash of its
        own member, so that their grants' construct ids differ. The first keeps the name `of` makes,
        so a member added to the end of a list never moves the grants already deployed."""
        principals, taken = [], set()
        for member in members:
            principal = cls.of(member)
            if principal.grant_id in taken:
                digest = hashlib.sha256(member.encode()).hexdigest()[:8]
                principal = replace(principal, grant_id=f"{principal.grant_id}-{digest}")
            taken.add(principal.grant_id)
            principals.append(principal)
        return principals
