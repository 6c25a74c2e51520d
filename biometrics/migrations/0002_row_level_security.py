"""Row-level security on every biometrics table (PostgreSQL; a no-op elsewhere)."""

from django.db import migrations

from tenants.rls import enable_rls

TABLES = [
    "biometrics_biometricsettings",
    "biometrics_subject",
    "biometrics_consent",
    "biometrics_enrollment",
    "biometrics_enrollmentimage",
    "biometrics_facetemplate",
    "biometrics_probeimage",
    "biometrics_verificationattempt",
    "biometrics_identificationattempt",
]


class Migration(migrations.Migration):
    dependencies = [("biometrics", "0001_initial")]

    operations = [enable_rls(table) for table in TABLES]
