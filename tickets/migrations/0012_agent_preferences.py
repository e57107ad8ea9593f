from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tickets', '0011_ticket_links_canned')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Agent',
            name='language',
            field=fields.CharField(null=True, description='Console language chosen by the agent (en, ru or th, None: from the browser)', max_length=8),
        ),
        ops.AddField(
            model_name='Agent',
            name='time_zone',
            field=fields.CharField(null=True, description='IANA time zone chosen by the agent (None: that of the business calendar, else UTC)', max_length=64),
        ),
    ]
