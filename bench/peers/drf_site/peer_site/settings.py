"""Settings of the DRF + djangorestframework-api-key peer: a production-shaped API-only project.

Environment (set by ``catalog.drf_api_key``): ``PEER_DRF_DB`` is the SQLite file, and
``PEER_DRF_SECRET_KEY`` Django's signing key (the peer signs nothing, but Django wants one).

What differs from ``django-admin startproject`` and why it is fair:

* ``DEBUG = False``, as any deployment; with it on Django would also keep every SQL query.
* Removed apps: admin, sessions, messages, staticfiles. They serve the HTML admin and browser
  sessions; an API authenticated by keys has neither. ``auth`` and ``contenttypes`` stay, since
  DRF's anonymous user and the api-key library's hashers come from them.
* Removed middleware: SessionMiddleware, CsrfViewMiddleware, AuthenticationMiddleware,
  MessageMiddleware, XFrameOptionsMiddleware. They exist for cookie sessions, HTML forms and
  framed pages; DRF's APIView is CSRF-exempt anyway (CSRF is enforced only by its
  SessionAuthentication), and no request here carries a cookie. SecurityMiddleware and
  CommonMiddleware, which any Django deployment keeps, stay in.
* DRF: JSON renderer only and no authentication classes. The browsable API is an HTML
  developer aid that a deployment benchmarked with wrk would not serve, and the API key (a
  permission in this library) is the only credential the endpoint accepts, so running Session
  and Basic authentication on every request would be cost for nothing. The unauthenticated
  answer is therefore 403 (PermissionDenied), not 401.
* ``CONN_MAX_AGE = None``: persistent database connections (one per serving thread), the
  usual production choice; the default would reopen SQLite on every request. vbauth keeps a
  connection pool too.
* The SQLite file is put in WAL mode by ``seed.py``, as vbauth does with its own.

The api-key hasher: djangorestframework-api-key 3.1.0 stores new keys with its own
``Sha512ApiKeyHasher`` (``rest_framework_api_key/crypto.py``: one unsalted
``hashlib.sha512(key).hexdigest()`` compared with ``constant_time_compare``). Django's
``PASSWORD_HASHERS`` (PBKDF2 by default) are used only for keys made by versions before 2.0,
which are then re-hashed to SHA-512 on first use. So one check costs one indexed SELECT by
prefix plus one SHA-512 of a 41-character key: microseconds, no key-stretching.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["PEER_DRF_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_api_key",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "peer_site.urls"
WSGI_APPLICATION = "peer_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["PEER_DRF_DB"],
        "CONN_MAX_AGE": None,
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Errors still reach gunicorn's stderr; nothing is logged per request, like vbauth under the bench.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
