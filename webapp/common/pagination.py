"""Page-number pagination with a client-chosen page size (bounded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


@dataclass(frozen=True)
class Counted:
    """A queryset to paginate whose length is already known (a maintained count).

    Django's paginator asks ``count()`` of what it pages; given this, it pages the
    queryset without a ``COUNT(*)`` over it. The count must be the queryset's.
    """

    queryset: QuerySet[Any]
    total: int

    def count(self) -> int:
        return self.total

    def __getitem__(self, key: Any) -> Any:
        return self.queryset[key]
