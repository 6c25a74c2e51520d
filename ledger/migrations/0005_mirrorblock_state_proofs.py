from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_row_level_security_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='mirrorblock',
            name='state_proofs',
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
    ]
