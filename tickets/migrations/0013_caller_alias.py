from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0012_agent_preferences')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CallerAlias',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('number', fields.CharField(max_length=64)),
                ('person', fields.ForeignKeyField('tickets.Person', source_field='person_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('tickets.Agent', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_by_label', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'caller_alias', 'app': 'tickets', 'indexes': [Index(fields=['person_id'], name='caller_alias_person_idx')], 'pk_attr': 'id', 'table_description': 'A number an agent linked to a person: every caller lookup answers it first, no directory sync changes it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Person',
            name='country',
            field=fields.CharField(null=True, max_length=2),
        ),
        ops.AddField(
            model_name='Person',
            name='office',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
