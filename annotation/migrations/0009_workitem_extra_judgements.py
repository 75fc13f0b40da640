from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0008_invitations'),
    ]

    operations = [
        migrations.AddField(
            model_name='workitem',
            name='extra_judgements',
            field=models.PositiveIntegerField(default=0, help_text="Judgements wanted beyond the project's overlap (a pair the selector asks again)."),
        ),
    ]
