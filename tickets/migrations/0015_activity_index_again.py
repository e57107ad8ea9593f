from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """On SQLite, 0003's AlterField of activity.kind rebuilt the table and dropped activity_ticket_id_idx (every
    ticket's history read the whole table). IF NOT EXISTS: PostgreSQL kept it."""

    dependencies = [('tickets', '0014_work_lists')]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS activity_ticket_id_idx ON activity (ticket_id, id)",
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
