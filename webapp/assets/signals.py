"""Storage follows the database: an asset's renditions go when its row goes.

They are derived files that no model field points at, so no deletion path (service,
cascade from a site, Django's admin) would otherwise know to remove them; removing them
after commit means a rolled-back deletion loses nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from webapp.assets.models import Asset
from webapp.assets.renditions import delete_files, rendition_names


@receiver(post_delete, sender=Asset, dispatch_uid="asset-renditions")
def remove_renditions(sender: type[Asset], instance: Asset, **kwargs: Any) -> None:
    names = rendition_names(instance)
    transaction.on_commit(lambda: delete_files(names))
