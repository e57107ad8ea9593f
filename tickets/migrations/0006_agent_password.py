from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tickets', '0005_sla')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Agent',
            name='password_hash',
            field=fields.CharField(null=True, description='argon2id hash of the console password (None: the agent cannot log in to the console, only use tokens)', max_length=255),
        ),
    ]
