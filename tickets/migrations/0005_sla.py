from tortoise import migrations
from tortoise.migrations import operations as ops
from tickets.models import ActivityKind, SlaState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0004_directory')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SlaClock',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('tickets.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='sla_clocks', on_delete=OnDelete.CASCADE)),
                ('metric', fields.CharField(max_length=24)),
                ('policy', fields.CharField(max_length=64)),
                ('calendar', fields.CharField(max_length=64)),
                ('target_seconds', fields.IntField()),
                ('warn_at', fields.CharField(default='', max_length=64)),
                ('warned', fields.CharField(default='', max_length=64)),
                ('state', fields.CharEnumField(default=SlaState.RUNNING, description='RUNNING: running\nPAUSED: paused\nMET: met\nBREACHED: breached', enum_type=SlaState, max_length=16)),
                ('paused', fields.BooleanField(default=False)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('running_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('elapsed_seconds', fields.FloatField(default=0)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_event_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('breached_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cycle', fields.IntField(default=1)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sla_clock', 'app': 'tickets', 'unique_together': (('ticket_id', 'metric'),), 'indexes': [Index(fields=['next_event_at'], name='sla_clock_next_event_idx'), Index(fields=['paused', 'stopped_at', 'due_at'], name='sla_clock_open_due_idx')], 'pk_attr': 'id', 'table_description': 'One SLA target of a ticket (first response, resolution, callback), timed in business time.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SlaEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('clock', fields.ForeignKeyField('tickets.SlaClock', source_field='clock_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('ticket_id', fields.IntField()),
                ('kind', fields.CharField(max_length=16)),
                ('metric', fields.CharField(max_length=24)),
                ('threshold', fields.IntField(null=True)),
                ('dedupe', fields.CharField(null=True, max_length=32)),
                ('detail', fields.TextField(null=True, unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sla_event', 'app': 'tickets', 'unique_together': (('clock_id', 'dedupe'),), 'indexes': [Index(fields=['ticket_id', 'id'], name='sla_event_ticket_idx')], 'pk_attr': 'id', 'table_description': 'A step in the life of an SLA clock: started, paused, resumed, warning, breached, met, retargeted.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Activity',
            name='kind',
            field=fields.CharEnumField(description='CREATED: created\nFIELD_CHANGED: field_changed\nCOMMENT: comment\nASSIGNED: assigned\nSTATUS_CHANGED: status_changed\nCALL: call\nSLA: sla', enum_type=ActivityKind, max_length=16),
        ),
    ]
