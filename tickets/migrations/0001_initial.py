from tortoise import migrations
from tortoise.migrations import operations as ops
from tickets.models import ActivityKind, Channel, Level, Role, TicketStatus, TicketType
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Agent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('login', fields.CharField(unique=True, max_length=64)),
                ('display_name', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(default=Role.AGENT, description='AGENT: agent\nSUPERVISOR: supervisor\nADMIN: admin', enum_type=Role, max_length=16)),
                ('extension', fields.CharField(null=True, unique=True, max_length=32)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'agent', 'app': 'tickets', 'pk_attr': 'id', 'table_description': 'A member of the IT team who works tickets (and, later, answers calls).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('agent', fields.ForeignKeyField('tickets.Agent', source_field='agent_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('hint', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'tickets', 'pk_attr': 'id', 'table_description': 'A bearer token of an agent. Only its SHA-256 is stored, the token itself is shown once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Counter',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'counter', 'app': 'tickets', 'pk_attr': 'name', 'table_description': 'A named, gap-free counter (ticket numbers). Incremented inside the transaction that uses the value.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Person',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('phone', fields.CharField(null=True, max_length=64)),
                ('department', fields.CharField(null=True, max_length=128)),
                ('title', fields.CharField(null=True, max_length=128)),
                ('external_id', fields.CharField(null=True, unique=True, max_length=255)),
                ('vip', fields.BooleanField(default=False)),
                ('search_text', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'person', 'app': 'tickets', 'pk_attr': 'id', 'table_description': 'Someone who asks for help: the requester of tickets (later filled from Active Directory).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('type', fields.CharEnumField(default=TicketType.INCIDENT, description='INCIDENT: incident\nSERVICE_REQUEST: service_request', enum_type=TicketType, max_length=16)),
                ('status', fields.CharEnumField(default=TicketStatus.NEW, description='NEW: new\nOPEN: open\nPENDING: pending\nRESOLVED: resolved\nCLOSED: closed', enum_type=TicketStatus, max_length=16)),
                ('impact', fields.CharEnumField(description='HIGH: high\nMEDIUM: medium\nLOW: low', enum_type=Level, max_length=8)),
                ('urgency', fields.CharEnumField(description='HIGH: high\nMEDIUM: medium\nLOW: low', enum_type=Level, max_length=8)),
                ('priority', fields.CharField(max_length=2)),
                ('channel', fields.CharEnumField(default=Channel.API, description='PHONE: phone\nWEB: web\nAPI: api\nEMAIL: email', enum_type=Channel, max_length=8)),
                ('requester', fields.ForeignKeyField('tickets.Person', source_field='requester_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
                ('caller_number', fields.CharField(null=True, max_length=64)),
                ('assignee', fields.ForeignKeyField('tickets.Agent', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_tickets', on_delete=OnDelete.SET_NULL)),
                ('group', fields.CharField(source_field='group_name', null=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('tickets.Agent', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('resolution', fields.TextField(null=True, unique=False)),
                ('search_text', fields.TextField(default='', unique=False)),
                ('reopen_count', fields.IntField(default=0)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('first_response_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket', 'app': 'tickets', 'indexes': [Index(fields=['status', 'id'], name='ticket_status_id_idx'), Index(fields=['priority', 'id'], name='ticket_priority_id_idx'), Index(fields=['assignee_id', 'id'], name='ticket_assignee_id_idx'), Index(fields=['requester_id', 'id'], name='ticket_requester_id_idx'), Index(fields=['updated_at', 'id'], name='ticket_updated_id_idx')], 'pk_attr': 'id', 'table_description': 'An incident or a service request.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Activity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('tickets.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='activities', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CREATED: created\nFIELD_CHANGED: field_changed\nCOMMENT: comment\nASSIGNED: assigned\nSTATUS_CHANGED: status_changed', enum_type=ActivityKind, max_length=16)),
                ('field', fields.CharField(null=True, max_length=32)),
                ('old_value', fields.TextField(null=True, unique=False)),
                ('new_value', fields.TextField(null=True, unique=False)),
                ('body', fields.TextField(null=True, unique=False)),
                ('public', fields.BooleanField(default=False)),
                ('actor', fields.ForeignKeyField('tickets.Agent', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('actor_label', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'activity', 'app': 'tickets', 'indexes': [Index(fields=['ticket_id', 'id'], name='activity_ticket_id_idx')], 'pk_attr': 'id', 'table_description': 'One entry in the history of a ticket. Append-only: saving an existing row or deleting one raises.'},
            bases=['Model'],
        ),
        # The ticket-number counter starts at 0; the first ticket is <prefix>-1.
        ops.RunSQL(
            "INSERT INTO counter (name, value) VALUES ('ticket', 0)",
            reverse_sql="DELETE FROM counter WHERE name = 'ticket'",
        ),
    ]
