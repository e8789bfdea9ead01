from django.db import migrations, models


def menu(apps, schema_editor):
    Pizza = apps.get_model("pizzas", "Pizza")
    for name, price in [("Margherita", 900), ("Regina", 1100), ("Quatre fromages", 1200)]:
        Pizza.objects.create(name=name, price_cents=price)


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Pizza",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100, unique=True)),
                ("price_cents", models.PositiveIntegerField()),
            ],
        ),
        migrations.RunPython(menu, migrations.RunPython.noop),
    ]
