from tortoise import migrations
from tortoise.migrations import operations as ops
from tickets.models import ActivityKind, CallOutcome, CallState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0002_ticket_search_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Call',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pbx', fields.CharField(max_length=32)),
                ('linkedid', fields.CharField(max_length=64)),
                ('ticket', fields.ForeignKeyField('tickets.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='calls', on_delete=OnDelete.SET_NULL)),
                ('opened_ticket', fields.BooleanField(default=False)),
                ('state', fields.CharEnumField(default=CallState.OFFERED, description='OFFERED: offered\nRINGING: ringing\nANSWERED: answered\nENDED: ended', enum_type=CallState, max_length=16)),
                ('outcome', fields.CharEnumField(null=True, description='ANSWERED: answered\nABANDONED: abandoned\nTIMEOUT: timeout\nHUNG_UP_BEFORE_QUEUE: hung_up_before_queue\nINTERRUPTED: interrupted', enum_type=CallOutcome, max_length=24)),
                ('caller_number', fields.CharField(max_length=64)),
                ('caller_e164', fields.CharField(null=True, max_length=20)),
                ('caller_key', fields.CharField(null=True, max_length=64)),
                ('caller_name', fields.CharField(max_length=200)),
                ('queue', fields.CharField(null=True, max_length=64)),
                ('agent', fields.ForeignKeyField('tickets.Agent', source_field='agent_id', null=True, db_constraint=True, to_field='id', related_name='calls', on_delete=OnDelete.SET_NULL)),
                ('agent_name', fields.CharField(null=True, max_length=200)),
                ('agent_extension', fields.CharField(null=True, max_length=32)),
                ('wait_seconds', fields.IntField(null=True)),
                ('talk_seconds', fields.IntField(null=True)),
                ('ended_by', fields.CharField(null=True, max_length=16)),
                ('voicemail', fields.BooleanField(default=False)),
                ('hangup_cause', fields.CharField(null=True, max_length=64)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'phone_call', 'app': 'tickets', 'unique_together': (('pbx', 'linkedid'),), 'indexes': [Index(fields=['caller_key', 'started_at'], name='call_caller_started_idx'), Index(fields=['ticket_id', 'id'], name='call_ticket_id_idx'), Index(fields=['started_at', 'id'], name='call_started_id_idx')], 'pk_attr': 'id', 'table_description': 'A call to the IT line, as the PBX reported it. One row per call: unique on (pbx, linkedid).'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Activity',
            name='kind',
            field=fields.CharEnumField(description='CREATED: created\nFIELD_CHANGED: field_changed\nCOMMENT: comment\nASSIGNED: assigned\nSTATUS_CHANGED: status_changed\nCALL: call', enum_type=ActivityKind, max_length=16),
        ),
        ops.AddField(
            model_name='Person',
            name='phone_key',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
    ]
