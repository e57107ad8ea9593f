from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0003_calls')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CallerIndexEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=64)),
                ('person', fields.ForeignKeyField('tickets.Person', source_field='person_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('attribute', fields.CharField(max_length=64)),
                ('written', fields.CharField(max_length=128)),
            ],
            options={'table': 'caller_index', 'app': 'tickets', 'unique_together': (('key', 'person_id'),), 'indexes': [Index(fields=['person_id'], name='caller_index_person_idx')], 'pk_attr': 'id', 'table_description': 'The synced caller index: one row per person and number key (E.164 or ext:NNN), rebuilt by each sync.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DirectorySyncRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ok', fields.BooleanField()),
                ('dry_run', fields.BooleanField(default=False)),
                ('server', fields.CharField(null=True, max_length=255)),
                ('people', fields.IntField(default=0)),
                ('numbers', fields.IntField(default=0)),
                ('added', fields.IntField(default=0)),
                ('changed', fields.IntField(default=0)),
                ('disabled', fields.IntField(default=0)),
                ('removed', fields.IntField(default=0)),
                ('error_kind', fields.CharField(null=True, max_length=32)),
                ('error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'directory_sync', 'app': 'tickets', 'indexes': [Index(fields=['ok', 'id'], name='directory_sync_ok_idx')], 'pk_attr': 'id', 'table_description': 'One directory sync: when it ran, whether it completed, what it changed or why it failed.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Person',
            name='directory_guid',
            field=fields.CharField(null=True, unique=True, max_length=36),
        ),
        ops.AddField(
            model_name='Person',
            name='disabled',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Person',
            name='synced_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
