"""The per-site pending count, kept by triggers on ``review_flag`` (PostgreSQL, SQLite).

Each trigger adds a row with the change it saw (see ``PendingFlagCount``): PostgreSQL
statement-level triggers over transition tables, one row per statement and site (a
``bulk_create`` of 5,000 flags adds one row, not 5,000); SQLite row-level triggers, its
only kind. Both only add a row when flags enter or leave ``pending`` (or move between
sites), so a note or a reviewer written on a flag costs nothing. The count starts from the
flags there are.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL_FORWARD = [
    """
    CREATE FUNCTION review_flag_pending_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending)
            SELECT site_id, count(*) FROM new_rows WHERE status = 'pending' GROUP BY site_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION review_flag_pending_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending)
            SELECT site_id, -count(*) FROM old_rows WHERE status = 'pending' GROUP BY site_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION review_flag_pending_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending)
            SELECT site_id, sum(n) FROM (
                SELECT site_id, count(*) AS n FROM new_rows WHERE status = 'pending'
                GROUP BY site_id
                UNION ALL
                SELECT site_id, -count(*) FROM old_rows WHERE status = 'pending'
                GROUP BY site_id
            ) AS delta GROUP BY site_id HAVING sum(n) <> 0;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER review_flag_pending_insert AFTER INSERT ON review_flag
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION review_flag_pending_added()
    """,
    """
    CREATE TRIGGER review_flag_pending_delete AFTER DELETE ON review_flag
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION review_flag_pending_removed()
    """,
    """
    CREATE TRIGGER review_flag_pending_update AFTER UPDATE ON review_flag
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION review_flag_pending_changed()
    """,
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS review_flag_pending_insert ON review_flag",
    "DROP TRIGGER IF EXISTS review_flag_pending_delete ON review_flag",
    "DROP TRIGGER IF EXISTS review_flag_pending_update ON review_flag",
    "DROP FUNCTION IF EXISTS review_flag_pending_added()",
    "DROP FUNCTION IF EXISTS review_flag_pending_removed()",
    "DROP FUNCTION IF EXISTS review_flag_pending_changed()",
]

SQLITE_FORWARD = [
    """
    CREATE TRIGGER review_flag_pending_insert AFTER INSERT ON review_flag
    WHEN NEW.status = 'pending' BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending) VALUES (NEW.site_id, 1);
    END
    """,
    """
    CREATE TRIGGER review_flag_pending_delete AFTER DELETE ON review_flag
    WHEN OLD.status = 'pending' BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending) VALUES (OLD.site_id, -1);
    END
    """,
    """
    CREATE TRIGGER review_flag_pending_update AFTER UPDATE OF status, site_id ON review_flag
    WHEN (OLD.status = 'pending' OR NEW.status = 'pending')
        AND (OLD.status IS NOT NEW.status OR OLD.site_id IS NOT NEW.site_id) BEGIN
        INSERT INTO review_pendingflagcount (site_id, pending)
            SELECT OLD.site_id, -1 WHERE OLD.status = 'pending';
        INSERT INTO review_pendingflagcount (site_id, pending)
            SELECT NEW.site_id, 1 WHERE NEW.status = 'pending';
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS review_flag_pending_insert",
    "DROP TRIGGER IF EXISTS review_flag_pending_delete",
    "DROP TRIGGER IF EXISTS review_flag_pending_update",
]

BACKFILL = """
    INSERT INTO review_pendingflagcount (site_id, pending)
    SELECT site_id, count(*) FROM review_flag WHERE status = 'pending' GROUP BY site_id
"""

STATEMENTS = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_BACKWARD),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def _run(schema_editor, statements) -> None:
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"no pending-count triggers for the {vendor} database")
    _run(schema_editor, [*STATEMENTS[vendor][0], BACKFILL])


def drop_triggers(apps, schema_editor) -> None:
    _run(schema_editor, STATEMENTS.get(schema_editor.connection.vendor, ((), ()))[1])


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0007_flag_score_value"),
        ("sites", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingFlagCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("pending", models.IntegerField()),
                (
                    "site",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="sites.site",
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
