"""Flag.score_value: the queue's order from one index of the flag table (issue 10)."""

import django.db.models.deletion
from django.db import migrations, models

# Standard SQL (a correlated subquery): runs as is on SQLite and PostgreSQL.
COPY_SCORES = (
    "UPDATE review_flag SET score_value = "
    "(SELECT review_score.score FROM review_score WHERE review_score.id = review_flag.score_id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0006_reviewer_quality"),
        ("sites", "0005_review_quality_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="flag",
            name="score_value",
            field=models.FloatField(
                default=0.0, help_text="The flag's score (a copy of score.score)."
            ),
            preserve_default=False,
        ),
        migrations.RunSQL(COPY_SCORES, reverse_sql=migrations.RunSQL.noop),
        # (site, status) is the start of flag_queue_order; the site's own index is (site, id)
        migrations.RemoveIndex(model_name="flag", name="review_flag_site_id_93a9ca_idx"),
        migrations.AlterField(
            model_name="flag",
            name="site",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="flags",
                to="sites.site",
            ),
        ),
        migrations.AddIndex(
            model_name="flag",
            index=models.Index(fields=["site", "id"], name="flag_site_id"),
        ),
        migrations.AlterModelOptions(
            name="flag",
            options={"ordering": ["-score_value", "id"]},
        ),
        migrations.AddIndex(
            model_name="flag",
            index=models.Index(
                fields=["site", "status", "-score_value", "id"], name="flag_queue_order"
            ),
        ),
        migrations.AddIndex(
            model_name="flag",
            index=models.Index(fields=["site", "-score_value", "id"], name="flag_site_order"),
        ),
        migrations.AddIndex(
            model_name="flag",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["site", "id"],
                name="flag_pending",
            ),
        ),
    ]
