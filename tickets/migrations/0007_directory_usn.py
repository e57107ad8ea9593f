from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tickets', '0006_agent_password')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DirectoryUsnState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(unique=True, max_length=32)),
                ('server', fields.CharField(null=True, max_length=255)),
                ('dc_name', fields.CharField(null=True, max_length=512)),
                ('invocation_id', fields.CharField(null=True, max_length=36)),
                ('highest_usn', fields.BigIntField(null=True)),
                ('scope', fields.CharField(null=True, max_length=64)),
                ('full_sync_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'directory_usn', 'app': 'tickets', 'pk_attr': 'id', 'table_description': 'Where the last directory sync left off, so the next one reads only what changed (uSNChanged).'},
            bases=['Model'],
        ),
    ]
