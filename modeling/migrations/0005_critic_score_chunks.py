from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('modeling', '0004_constructed_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='criticversion',
            name='score_chunks',
            field=models.JSONField(blank=True, default=dict, help_text="The scoring run's chunks (modeling.critic.pool_scoring): run, total, done, attempts, workers, failures."),
        ),
    ]
