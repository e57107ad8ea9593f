from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('notify', '0001_notify')]  # its own table only: no later tickets migration needed

    initial = False

    operations = [
        ops.AddField(
            model_name='Alert',
            name='acknowledged_via',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
