from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tickets', '0009_expiring_marks')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Call',
            index=Index(fields=['pbx', 'state'], name='call_pbx_state_idx'),
        ),
    ]
