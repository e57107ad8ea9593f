from tortoise import migrations
from tortoise.migrations import operations as ops
from notify.models import AlertState, DeliveryStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0001_initial')]  # only the ticket table is needed, not the latest tickets migration

    initial = True

    operations = [
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('tickets.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharField(max_length=64)),
                ('event', fields.CharField(max_length=32)),
                ('metric', fields.CharField(null=True, max_length=24)),
                ('policy', fields.CharField(max_length=64)),
                ('state', fields.CharEnumField(default=AlertState.OPEN, description='OPEN: open\nACKNOWLEDGED: acknowledged\nRESOLVED: resolved', enum_type=AlertState, max_length=16)),
                ('summary', fields.CharField(max_length=300)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.CharField(null=True, max_length=128)),
                ('ack_channel', fields.CharField(null=True, max_length=16)),
                ('ack_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cycle', fields.IntField(default=0)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_alert', 'app': 'notify', 'unique_together': (('ticket_id', 'reason'),), 'indexes': [Index(fields=['state', 'id'], name='notify_alert_state_idx'), Index(fields=['ack_expires_at'], name='notify_alert_ack_expires_idx')], 'pk_attr': 'id', 'table_description': 'An alert about a ticket for one reason (an SLA warning or breach of a metric), escalated by a policy.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('notify.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('step', fields.IntField()),
                ('round', fields.IntField(default=0)),
                ('channel', fields.CharField(max_length=16)),
                ('target', fields.CharField(max_length=128)),
                ('person', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharEnumField(default=DeliveryStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nFAILED: failed\nCANCELLED: cancelled', enum_type=DeliveryStatus, max_length=16)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('provider_id', fields.CharField(null=True, max_length=64)),
                ('provider_channel', fields.CharField(null=True, max_length=64)),
                ('provider_status', fields.CharField(null=True, max_length=16)),
                ('text', fields.TextField(null=True, unique=False)),
                ('error_code', fields.CharField(null=True, max_length=64)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_delivery', 'app': 'notify', 'unique_together': (('alert_id', 'step', 'round', 'channel', 'target'),), 'indexes': [Index(fields=['status', 'next_attempt_at'], name='notify_delivery_due_idx'), Index(fields=['provider_id'], name='notify_delivery_provider_idx')], 'pk_attr': 'id', 'table_description': 'One message of an alert: step, round, channel and target. The outbox row the dispatcher sends.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OnCallOverride',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('schedule', fields.CharField(max_length=64)),
                ('person', fields.CharField(max_length=64)),
                ('start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_override', 'app': 'notify', 'indexes': [Index(fields=['schedule', 'end'], name='notify_override_schedule_idx')], 'pk_attr': 'id', 'table_description': 'Somebody on call for a schedule from start to end instead of the rotation, set through the API.'},
            bases=['Model'],
        ),
    ]
