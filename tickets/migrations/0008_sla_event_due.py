from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tickets', '0007_directory_usn')]

    initial = False

    operations = [
        ops.AddField(
            model_name='SlaEvent',
            name='cycle',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='SlaEvent',
            name='due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
