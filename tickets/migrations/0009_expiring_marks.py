from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0008_sla_event_due')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExpiringMark',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=32)),
                ('key', fields.CharField(max_length=200)),
                ('count', fields.IntField(default=1)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'expiring_mark', 'app': 'tickets', 'unique_together': (('kind', 'key'),), 'indexes': [Index(fields=['expires_at'], name='expiring_mark_expires_idx')], 'pk_attr': 'id', 'table_description': 'A short-lived fact shared by every helpline instance (login attempts, ended sessions, handled webhooks).'},
            bases=['Model'],
        ),
    ]
