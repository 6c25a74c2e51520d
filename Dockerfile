# Image for the web, worker and beat services of docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PORTAL_VAR_DIR=/var/lib/portal DEEPFACE_HOME=/var/lib/portal/deepface

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/base.txt -r requirements/bio.txt

COPY . .
RUN useradd --system --home /var/lib/portal portal \
 && mkdir -p /var/lib/portal/deepface \
 && PORTAL_ENV=development python manage.py collectstatic --noinput \
 && PORTAL_ENV=development python manage.py biometrics_setup \
 && chown -R portal /var/lib/portal
USER portal
EXPOSE 8000
CMD ["uvicorn", "portal.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
