from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tickets.models import ActivityKind, SlaState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class DescriptionOnly(ops.AlterField):
    """An enum field gains a value: only its description (the model state) changes, not its column (varchar(16),
    no check constraint). On SQLite a real AlterField rebuilds the whole table and drops its indexes
    (sla_clock_next_event_idx, sla_clock_open_due_idx), so nothing is done in the database."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('tickets', '0010_calls_open_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CannedResponse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('owner', fields.ForeignKeyField('tickets.Agent', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('tickets.Agent', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('updated_by', fields.ForeignKeyField('tickets.Agent', source_field='updated_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'canned_response', 'app': 'tickets', 'indexes': [Index(fields=['owner_id', 'title'], name='canned_response_owner_idx')], 'pk_attr': 'id', 'table_description': 'A reply an agent reuses: personal (owner set) or shared by the team (owner null).'},
            bases=['Model'],
        ),
        DescriptionOnly(
            model_name='Activity',
            name='kind',
            field=fields.CharEnumField(description='CREATED: created\nFIELD_CHANGED: field_changed\nCOMMENT: comment\nASSIGNED: assigned\nSTATUS_CHANGED: status_changed\nCALL: call\nSLA: sla\nLINK: link', enum_type=ActivityKind, max_length=16),
        ),
        DescriptionOnly(
            model_name='SlaClock',
            name='state',
            field=fields.CharEnumField(default=SlaState.RUNNING, description='RUNNING: running\nPAUSED: paused\nMET: met\nBREACHED: breached\nCANCELLED: cancelled', enum_type=SlaState, max_length=16),
        ),
        ops.AddField(
            model_name='Ticket',
            name='merged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='merged_into',
            field=fields.ForeignKeyField('tickets.Ticket', source_field='merged_into_id', null=True, description='the ticket this one was merged into (a duplicate): it is closed, and its calls and history live on there', db_constraint=True, to_field='id', related_name='merged', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Ticket',
            name='parent',
            field=fields.ForeignKeyField('tickets.Ticket', source_field='parent_id', null=True, description='the ticket this one is part of (an outage and the tickets it caused)', db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['merged_into_id'], name='ticket_merged_into_idx'),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['parent_id'], name='ticket_parent_idx'),
        ),
    ]
