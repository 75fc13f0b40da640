# An import batch becomes a run row (config/runs.py): its failure reason moves to the kernel's `error`, and it
# gets the attempt, worker and heartbeat columns that the stale rule and the periodic sweep read.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0005_mos_polarity_pathway_mos'),
    ]

    operations = [
        migrations.RenameField(
            model_name='importbatch',
            old_name='error_message',
            new_name='error',
        ),
        migrations.AlterField(
            model_name='importbatch',
            name='error',
            field=models.TextField(blank=True, help_text='Why the run failed, if it did.'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='attempt',
            field=models.PositiveIntegerField(default=0, help_text='Deliveries of its task that started work.'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life from the worker running it.', null=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='started_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='worker',
            field=models.CharField(blank=True, help_text='host:pid of the process that claimed it.', max_length=255),
        ),
    ]
