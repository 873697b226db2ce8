"""Permission checks, in one place: every view and API goes through these helpers.

A user who is not a member of a site gets 404 for it (its existence is not revealed); a
member whose role lacks the capability gets 403 with a message naming the missing right.
Staff users are admins of every site.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404

from webapp.sites.models import Membership, Site
from webapp.sites.roles import CAPABILITIES, CAPABILITY_VERBS, Capability, Role

UserLike = AbstractBaseUser | AnonymousUser


class _OfSite(Protocol):
    site: Site


_T = TypeVar("_T", bound=_OfSite)


#: Where a site instance keeps the roles read for it, by user id: a page asks several
#: times (may they upload? review? manage?) and each asking was a query. The memo lives
#: as long as the instance, a request's; :func:`forget_roles` clears it on a change.
_ROLES = "_roles_by_user"


def role_on(user: UserLike, site: Site) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.ADMIN
    roles = site.__dict__.setdefault(_ROLES, {})
    if user.pk not in roles:
        roles[user.pk] = (
            Membership.objects.filter(site=site, user=user).values_list("role", flat=True).first()
        )
    return roles[user.pk]


def forget_roles(site: Site) -> None:
    """Read roles on ``site`` from the database again (after a membership changed)."""
    site.__dict__.pop(_ROLES, None)


def can(user: UserLike, site: Site, capability: Capability) -> bool:
    role = role_on(user, site)
    return role is not None and capability in CAPABILITIES[role]


def check_capability(user: UserLike, site: Site, capability: Capability) -> None:
    role = role_on(user, site)
    if role is None:
        raise Http404(f"Site '{site.slug}' not found.")
    if capability not in CAPABILITIES[role]:
        raise PermissionDenied(
            f"Your role on '{site.slug}' is {role}; it does not allow you to "
            f"{CAPABILITY_VERBS[capability]}."
        )


#: The active version's JSON that only its own pages read: a trained version's manifest
#: and evaluation hold an id (and a score) per training image, and decoding them on every
#: request that names a site cost more than the rest of a review page's queries.
UNREAD_VERSION_JSON = ("active_version__manifest", "active_version__evaluation")


def access_site(user: UserLike, slug: str, capability: Capability = Capability.VIEW) -> Site:
    """The site with ``slug`` if ``user`` may do ``capability`` there (404/403 otherwise)."""
    sites = Site.objects.select_related("active_version").defer(*UNREAD_VERSION_JSON)
    if user.is_authenticated and not user.is_staff:  # (the role in the same query)
        role = Membership.objects.filter(site=OuterRef("pk"), user_id=user.pk).values("role")
        sites = sites.annotate(viewer_role=Subquery(role[:1]))
    site = sites.filter(slug=slug).first()
    if site is None:
        raise Http404(f"Site '{slug}' not found.")
    if hasattr(site, "viewer_role"):
        site.__dict__.setdefault(_ROLES, {})[user.pk] = site.viewer_role
    check_capability(user, site, capability)
    return site


def access_site_object(user: UserLike, obj: _T | None, capability: Capability, *, name: str) -> _T:
    """``obj`` (an asset, version, flag...) if ``user`` may do ``capability`` on its site.

    A missing object and one of a site the user cannot see answer the same 404 ("Asset 7
    not found."), so ids of other sites cannot be probed; a member whose role lacks the
    capability gets 403 as elsewhere.
    """
    if obj is None or role_on(user, obj.site) is None:
        raise Http404(f"{name} not found.")
    check_capability(user, obj.site, capability)
    return obj
