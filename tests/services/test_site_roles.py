"""A site's role is read once per request (with the site itself) and again after a change."""

from __future__ import annotations

import pytest

from webapp.sites.access import access_site, can, role_on
from webapp.sites.roles import Capability, Role
from webapp.sites.services import remove_membership, set_membership

pytestmark = pytest.mark.django_db


def test_the_role_comes_with_the_site_and_is_asked_once(users, django_assert_num_queries):
    reviewer = users["reviewer"]
    with django_assert_num_queries(1):
        site = access_site(reviewer, "park", Capability.REVIEW)
        assert can(reviewer, site, Capability.REVIEW) and not can(reviewer, site, Capability.MANAGE)
        assert role_on(reviewer, site) == Role.REVIEWER
    with django_assert_num_queries(1):  # another user: their own lookup
        assert role_on(users["viewer"], site) == Role.VIEWER
        assert role_on(users["viewer"], site) == Role.VIEWER


def test_a_changed_membership_is_read_again(users):
    viewer = users["viewer"]
    site = access_site(viewer, "park")
    assert not can(viewer, site, Capability.REVIEW)
    set_membership(site=site, username="viewer", role=Role.REVIEWER, actor=users["admin"])
    assert can(viewer, site, Capability.REVIEW)
    remove_membership(site=site, username="viewer", actor=users["admin"])
    assert role_on(viewer, site) is None
    assert role_on(users["outsider"], site) is None
